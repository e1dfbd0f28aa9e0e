import fc from 'fast-check';
import { conflict, DomainError } from './domain-error';
import { BatchCandidate, RoundOutcome, sequenceRound } from './batch-sequencing';

/**
 * A toy world with the shape of the Enable rule: a request names accounts; it is refused while any of them
 * has a task in progress, and otherwise starts one for all of them. Decided one by one, or in rounds over
 * snapshots with sequenceRound, the answers must be the same.
 */
type Answer = { accepted: true; id: number } | { accepted: false; by: number };

function oneByOne(requests: string[][]): Answer[] {
  const busy = new Map<string, number>();
  return requests.map((accounts, id) => {
    const holder = accounts.find((a) => busy.has(a));
    if (holder !== undefined) return { accepted: false, by: busy.get(holder) as number };
    for (const a of accounts) busy.set(a, id);
    return { accepted: true, id };
  });
}

function inRounds(requests: string[][]): { answers: Answer[]; rounds: number } {
  const busy = new Map<string, number>();
  const answers: Answer[] = new Array(requests.length);
  let remaining = requests.map((_, i) => i);
  let rounds = 0;
  while (remaining.length > 0) {
    rounds++;
    const snapshot = new Map(busy);
    const candidates: Array<BatchCandidate<{ id: number }>> = remaining.map((i) => {
      const holder = requests[i].find((a) => snapshot.has(a));
      return {
        signature: [...requests[i]].sort().join('|'),
        footprint: new Set(requests[i]),
        decision:
          holder === undefined
            ? { id: i }
            : conflict('taskInProgress', 'busy', { by: snapshot.get(holder) as number }),
      };
    });
    const outcomes: RoundOutcome[] = sequenceRound(candidates, () => true);
    const next: number[] = [];
    outcomes.forEach((o, k) => {
      const i = remaining[k];
      const decision = candidates[k].decision;
      if (o.kind === 'defer') next.push(i);
      else if (o.kind === 'duplicateOf') answers[i] = { accepted: false, by: remaining[o.index] };
      else if (decision instanceof DomainError)
        answers[i] = { accepted: false, by: decision.details.by as number };
      else {
        answers[i] = { accepted: true, id: i };
        for (const a of requests[i]) busy.set(a, i);
      }
    });
    remaining = next;
  }
  return { answers, rounds };
}

describe('sequenceRound (bulk decided as one by one)', () => {
  it('decides independent requests in one round', () => {
    const requests = [['a'], ['b'], ['c']];
    expect(inRounds(requests)).toEqual({ answers: oneByOne(requests), rounds: 1 });
  });

  it('refuses copies of an accepted request in the same round, naming the first', () => {
    const requests = Array.from({ length: 1000 }, () => ['jdoe', 'uid=jdoe']);
    const { answers, rounds } = inRounds(requests);
    expect(rounds).toBe(1);
    expect(answers[0]).toEqual({ accepted: true, id: 0 });
    expect(answers.slice(1).every((a) => !a.accepted && a.by === 0)).toBe(true);
  });

  it('puts off a request that shares an account with an earlier, different one', () => {
    const requests = [['jdoe'], ['jdoe', 'uid=jdoe'], ['bob']];
    const { answers, rounds } = inRounds(requests);
    expect(answers).toEqual(oneByOne(requests));
    expect(rounds).toBe(2);
  });

  it('lets a refused request block nothing behind it', () => {
    const outcomes = sequenceRound<{ id: number }>(
      [
        { signature: 'a', footprint: new Set(['a']), decision: conflict('taskInProgress', 'busy') },
        { signature: 'a|b', footprint: new Set(['a', 'b']), decision: { id: 1 } },
      ],
      () => true,
    );
    expect(outcomes).toEqual([{ kind: 'decided' }, { kind: 'decided' }]);
  });

  it('does not take a copy for a duplicate when the first task ends at once', () => {
    const outcomes = sequenceRound<{ id: number }>(
      [
        { signature: 'a', footprint: new Set(['a']), decision: { id: 0 } },
        { signature: 'a', footprint: new Set(['a']), decision: { id: 1 } },
      ],
      () => false,
    );
    expect(outcomes).toEqual([{ kind: 'decided' }, { kind: 'defer' }]);
  });

  it('answers any bulk exactly as one by one', () => {
    const account = fc.constantFrom('a', 'b', 'c', 'd', 'e', 'f');
    fc.assert(
      fc.property(
        fc.array(fc.uniqueArray(account, { minLength: 1, maxLength: 3 }), { maxLength: 40 }),
        (reqs) => {
          expect(inRounds(reqs).answers).toEqual(oneByOne(reqs));
        },
      ),
      { numRuns: 500 },
    );
  });
});
