import { DomainError } from './domain-error';

/**
 * One request of a bulk (issue #10), decided from a snapshot of the database taken for the whole round.
 *
 * A bulk must answer every item exactly as the same requests sent one after another would be answered
 * (CONTRACT §5). Reading the snapshot once per round instead of once per item is only right for items that
 * cannot see each other's effects: an item is decided from the snapshot unless an earlier item of the round
 * that writes something (an accepted one, or one put off) touches what it reads. The footprint names all of
 * it: the identifiers the item was given and those its decision read, the tasks it read, the directory
 * objects it would restore.
 */
export interface BatchCandidate<P> {
  /** Items with one signature read the same facts (the same identifiers, or the same Disable task). */
  signature: string;
  footprint: ReadonlySet<string>;
  /** What the item gets when decided from the snapshot: a plan to create, or the refusal. */
  decision: P | DomainError;
}

export type RoundOutcome =
  /** The snapshot's decision stands. */
  | { kind: 'decided' }
  /** Refused as a duplicate of the earlier item `index`, whose new task is in progress for the account. */
  | { kind: 'duplicateOf'; index: number }
  /** Decided in a later round, from a snapshot that holds what this round created. */
  | { kind: 'defer' };

/**
 * Sorts one round's items, in request order, into those decided now and those put off. An item behind an
 * accepted one with the same signature is decided without another round: one after another, it would find
 * that item's Enable in progress (the planned task stays in progress) and get 409 `taskInProgress`, so
 * ten thousand copies of one account cost one round, not ten thousand.
 */
export function sequenceRound<P>(
  items: ReadonlyArray<BatchCandidate<P>>,
  staysInProgress: (plan: P) => boolean,
): RoundOutcome[] {
  // Per footprint element, what the earlier writers add up to: the first of them, and the one signature all
  // of them share as accepted, still-in-progress items (null once any writer is anything else). Summaries,
  // not lists, so that thousands of accounts sharing an element cost no more than one.
  const writers = new Map<string, { first: number; duplicateSignature: string | null }>();
  const outcomes: RoundOutcome[] = [];
  const writes = (j: number, duplicateSignature: string | null) => {
    for (const element of items[j].footprint) {
      const w = writers.get(element);
      if (!w) writers.set(element, { first: j, duplicateSignature });
      else if (w.duplicateSignature !== duplicateSignature) w.duplicateSignature = null;
    }
  };
  items.forEach((item, j) => {
    let first = Infinity;
    let allDuplicates = true;
    for (const element of item.footprint) {
      const w = writers.get(element);
      if (!w) continue;
      first = Math.min(first, w.first);
      if (w.duplicateSignature !== item.signature) allDuplicates = false;
    }
    if (first === Infinity) {
      outcomes.push({ kind: 'decided' });
      const plan = item.decision;
      if (!(plan instanceof DomainError)) writes(j, staysInProgress(plan) ? item.signature : null);
      return;
    }
    if (allDuplicates) {
      outcomes.push({ kind: 'duplicateOf', index: first });
      return;
    }
    outcomes.push({ kind: 'defer' });
    writes(j, null);
  });
  return outcomes;
}
