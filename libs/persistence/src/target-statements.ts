import { AccountState, LONE_SURROGATE } from '@app/domain';

/**
 * The statements every target of every task runs (claim, resolution and lease, write fence, finish of a task's
 * only target), each written once over a set of targets: `$1` is a JSON array with one object per target. A
 * lone target runs it with one element; in a bulk, StatementBatcher runs the calls that arrive together as one
 * execution. TaskStore documents what each statement guarantees; these are only their texts and inputs.
 */

const LONE_SURROGATES = new RegExp(LONE_SURROGATE.source, 'g');

/**
 * `$1` of these statements: the items in order, each knowing its place (`ord`). Half a surrogate pair (from a
 * garbled directory answer, in an error message) becomes U+FFFD, as it does in a text parameter: inside JSON,
 * PostgreSQL refuses it, and the target's result would never land.
 */
export function batchInput(items: object[]): [string] {
  return [
    JSON.stringify(
      items.map((item, ord) => ({ ...item, ord })),
      (_, v: unknown) => (typeof v === 'string' ? v.replace(LONE_SURROGATES, '\uFFFD') : v),
    ),
  ];
}

/**
 * The condition every batch's `input` carries, always true. PostgreSQL estimates a jsonb_to_recordset at 100
 * rows, and with that estimate (and a bulk's young statistics) it planned the finish as hash joins over scans
 * of tasks and of every unfinished target: 1.5 ms a target. A range on a column it has no statistics for is
 * estimated at one row in 200, so the plan becomes the one-target plan, an index lookup per row, whatever the
 * batch. (`ord = ord` would not do: PostgreSQL rewrites it as `ord IS NOT NULL`.)
 */
const FEW = 'i.ord BETWEEN 0 AND 1000000';

export interface ClaimItem {
  taskId: string;
  provider: string;
}

export const CLAIM_TARGETS = (targetColumns: string, taskColumns: string) => `
  WITH input AS (
      SELECT * FROM jsonb_to_recordset($1::jsonb) AS i(ord int, task_id uuid, provider text) WHERE ${FEW}),
    claimed AS (
      UPDATE task_targets x
         SET status = 'running', attempts = x.attempts + 1, claim_generation = x.claim_generation + 1,
             started_at = COALESCE(x.started_at, now()), updated_at = now()
        FROM input i
       WHERE x.task_id = i.task_id AND x.provider = i.provider AND x.status IN ('pending', 'running')
       RETURNING x.*),
    first_attempt AS (
      INSERT INTO task_events (task_id, type, provider, status, actor, detail)
      SELECT task_id, 'task.targetUpdated', provider, 'running', 'worker', '{"attempt":1}'
        FROM claimed WHERE attempts = 1 AND stop_reason IS NULL)
  SELECT ${targetColumns}, ${taskColumns},
         (SELECT count(*)::int FROM task_targets n WHERE n.task_id = claimed.task_id) AS target_count
    FROM claimed JOIN tasks t ON t.id = claimed.task_id`;

export interface ResolutionItem {
  target_id: string;
  generation: number;
  object_id: string;
  object_ref: string;
  keys: string[];
  task_id: string;
  provider: string;
  disabling: boolean;
  /** Null: record the resolution without taking the object's lease. */
  lease_ms: string | null;
  task_seq: string;
}

export interface ResolutionRow {
  mine: boolean;
  locked: boolean;
  older_enables: boolean;
}

export const RECORD_RESOLUTIONS = `
  WITH input AS (
      SELECT * FROM jsonb_to_recordset($1::jsonb) AS i(
        ord int, target_id uuid, generation int, object_id text, object_ref text, keys text[], task_id uuid,
        provider text, disabling boolean, lease_ms text, task_seq bigint)
       WHERE ${FEW}),
    mine AS (
      UPDATE task_targets x SET object_id = i.object_id, object_ref = i.object_ref, updated_at = now()
        FROM input i
       WHERE x.id = i.target_id AND x.claim_generation = i.generation AND x.status = 'running'
       RETURNING x.id),
    known AS (
      INSERT INTO account_identifiers (task_id, key, source)
      SELECT i.task_id, k, i.provider FROM input i JOIN mine ON mine.id = i.target_id, unnest(i.keys) AS k
      ON CONFLICT DO NOTHING),
    older_enables AS (
      SELECT i.target_id FROM input i
       WHERE i.disabling AND EXISTS (
         SELECT 1 FROM task_targets x JOIN tasks t ON t.id = x.task_id
          WHERE t.action = 'enableAccount' AND x.provider = i.provider AND x.object_ref = i.object_ref
            AND x.status IN ('pending', 'running') AND t.seq < i.task_seq)),
    lease AS (
      INSERT INTO object_locks (provider, object_ref, target_id, generation, expires_at)
      SELECT i.provider, i.object_ref, i.target_id, i.generation, now() + (i.lease_ms || ' milliseconds')::interval
        FROM input i JOIN mine ON mine.id = i.target_id
       WHERE i.lease_ms IS NOT NULL AND i.target_id NOT IN (SELECT target_id FROM older_enables)
      ON CONFLICT (provider, object_ref) DO UPDATE
        SET target_id = EXCLUDED.target_id, generation = EXCLUDED.generation, expires_at = EXCLUDED.expires_at
      WHERE object_locks.target_id = EXCLUDED.target_id OR object_locks.expires_at < now()
      RETURNING target_id)
  SELECT i.target_id IN (SELECT id FROM mine) AS mine, i.target_id IN (SELECT target_id FROM lease) AS locked,
         i.target_id IN (SELECT target_id FROM older_enables) AS older_enables
    FROM input i ORDER BY i.ord`;

export interface FenceItem {
  /** Only the batch's key; the statement goes by the target. */
  task_id: string | null;
  target_id: string;
  generation: number;
  lease_ms: string;
  state: AccountState;
  /** An Enable's first fence: whether a Disable of its object supersedes it (see TaskStore.fenceWrite). */
  check_supersede: boolean;
}

export interface FenceRow {
  target_id: string;
  /** Null when the target is superseded, and then nothing was recorded. */
  prior_state: AccountState | null;
  superseded: boolean;
}

export const FENCE_WRITES = `
  WITH input AS (
      SELECT * FROM jsonb_to_recordset($1::jsonb) AS i(
        ord int, target_id uuid, generation int, lease_ms text, state text, check_supersede boolean)
       WHERE ${FEW}),
    superseded AS (
      SELECT i.target_id FROM input i
        JOIN task_targets me ON me.id = i.target_id
        JOIN tasks mt ON mt.id = me.task_id
       WHERE i.check_supersede AND EXISTS (
         SELECT 1 FROM task_targets x JOIN tasks t ON t.id = x.task_id
          WHERE t.action = 'disableAccount' AND x.provider = me.provider AND x.object_ref = me.object_ref
            AND (t.seq > mt.seq OR x.status IN ('pending', 'running')))),
    lease AS (
      UPDATE object_locks l SET expires_at = now() + (i.lease_ms || ' milliseconds')::interval
        FROM input i WHERE l.target_id = i.target_id AND l.generation = i.generation
       RETURNING l.target_id),
    fenced AS (
      UPDATE task_targets x
         SET prior_state = COALESCE(x.prior_state, i.state),
             acted_seq = COALESCE(x.acted_seq, nextval('target_acted_seq')), updated_at = now()
        FROM input i
       WHERE x.id = i.target_id AND x.claim_generation = i.generation AND x.status = 'running'
         AND x.stop_reason IS NULL AND i.target_id IN (SELECT target_id FROM lease)
         AND i.target_id NOT IN (SELECT target_id FROM superseded)
       RETURNING x.id, x.prior_state)
  SELECT id AS target_id, prior_state, false AS superseded FROM fenced
  UNION ALL
  SELECT target_id, NULL, true FROM superseded`;

/**
 * The target's part of finishing, shared by both ways to finish, over the targets in `input` (from $1, one row
 * per target, see finishItem): the guarded UPDATE (`finished`: no row for a target that had finished or whose
 * claim was lost), the lease given back, and the Disable targets that an Enable target which succeeded reverses.
 *
 * `task_row` locks the tasks before any target row is touched (the array is an InitPlan, computed before the
 * UPDATE takes a row), in id order: a cancel or a superseding Disable locks the task, then its targets, and a
 * finish that held its target while waiting for the task would deadlock with them.
 *
 * `target` finds the rows by their unique key before the UPDATE filters on status: given the status first,
 * PostgreSQL picked the index of unfinished targets whenever its statistics predated a bulk, and read every
 * unfinished target of the bulk on each finish.
 */
export const FINISH_TARGET_CTES = `
  input AS (
    SELECT * FROM jsonb_to_recordset($1::jsonb) AS i(
      ord int, task_id uuid, provider text, status text, outcome text, object_id text, object_ref text,
      error_code text, error_message text, warnings jsonb, not_a_change boolean, generation int, reversing boolean,
      detail jsonb, task_status text, task_error_code text, task_error_message text, completed_detail jsonb)
     WHERE ${FEW}),
  task_row AS (SELECT id FROM tasks WHERE id IN (SELECT task_id FROM input) ORDER BY id FOR NO KEY UPDATE),
  target AS (
    SELECT x.id, i.ord FROM input i JOIN task_targets x ON x.task_id = i.task_id AND x.provider = i.provider),
  finished AS (
    UPDATE task_targets x
       SET status = i.status, outcome = i.outcome, object_id = COALESCE(i.object_id, x.object_id),
           object_ref = COALESCE(i.object_ref, x.object_ref), error_code = i.error_code,
           error_message = i.error_message, warnings = i.warnings, finished_at = now(), updated_at = now(),
           prior_state = CASE WHEN i.not_a_change THEN NULL ELSE x.prior_state END,
           acted_seq = CASE WHEN i.not_a_change THEN NULL ELSE x.acted_seq END
      FROM target tg JOIN input i ON i.ord = tg.ord
     WHERE x.id = tg.id AND x.status IN ('pending', 'running')
       AND (i.generation IS NULL OR x.claim_generation = i.generation)
       AND x.task_id = ANY (ARRAY(SELECT id FROM task_row))
     RETURNING x.id, x.task_id, x.reverses, i.reversing, i.ord),
  released AS (DELETE FROM object_locks WHERE target_id IN (SELECT id FROM finished)),
  reversed AS (
    UPDATE task_targets d SET reversed_by = f.id FROM finished f
     WHERE f.reversing AND d.id = ANY (f.reverses) AND d.reversed_by IS NULL)`;

/** One target's row of a finish's `input`. */
export interface FinishItem {
  task_id: string;
  provider: string;
  status: string;
  outcome: string | null;
  object_id: string | null;
  object_ref: string | null;
  error_code: string | null;
  error_message: string | null;
  warnings: Array<{ code: string; message: string }>;
  not_a_change: boolean;
  generation: number | null;
  reversing: boolean;
  detail: Record<string, unknown>;
}

/** The finish of a task's only target also completes the task: its result is the task's. */
export interface FinishOnlyItem extends FinishItem {
  task_status: string;
  task_error_code: string | null;
  task_error_message: string | null;
  completed_detail: Record<string, unknown>;
}

export interface FinishRow {
  finished: boolean;
  completed: boolean;
}

export const FINISH_ONLY_TARGETS = `
  WITH ${FINISH_TARGET_CTES},
    completed AS (
      UPDATE tasks t
         SET status = i.task_status, error_code = i.task_error_code, error_message = i.task_error_message,
             completed_at = now(), updated_at = now()
        FROM finished f JOIN input i ON i.ord = f.ord
       WHERE t.id = f.task_id AND t.status = 'inProgress'
       RETURNING i.ord),
    logged AS (
      -- One INSERT, in this order: the timeline orders a transaction's events by id.
      INSERT INTO task_events (task_id, type, provider, status, actor, detail)
      SELECT i.task_id, v.type, v.provider, v.status, 'worker', v.detail
        FROM input i
        CROSS JOIN LATERAL (VALUES (1, 'task.targetUpdated', i.provider, i.status, i.detail),
                                   (2, 'task.completed', NULL, i.task_status, i.completed_detail))
             AS v(n, type, provider, status, detail)
       WHERE (v.n = 1 AND i.ord IN (SELECT ord FROM finished)) OR (v.n = 2 AND i.ord IN (SELECT ord FROM completed))
       ORDER BY i.ord, v.n)
  SELECT i.ord IN (SELECT ord FROM finished) AS finished, i.ord IN (SELECT ord FROM completed) AS completed
    FROM input i ORDER BY i.ord`;
