import type { ProviderCheck } from '@app/directories';
import type {
  BatchView,
  BulkResponse,
  ProviderTestResult,
  ProviderView,
  TargetView,
  TaskEventView,
  TaskPreview,
  TaskView,
} from '@app/engine';

/** Columns padded to their widest cell; the last column is not padded. */
export function table(rows: string[][]): string[] {
  const widths: number[] = [];
  for (const row of rows) row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, cell.length)));
  return rows.map((row) =>
    row
      .map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i])))
      .join('  ')
      .trimEnd(),
  );
}

const dash = (v: string | null | undefined) => (v === null || v === undefined || v === '' ? '-' : v);

/** What a target's row says besides its status: its outcome, its error, or what it is waiting for. */
export function targetDetail(t: TargetView): string {
  const parts: string[] = [];
  if (t.outcome) parts.push(t.outcome);
  if (t.error) {
    const prefix = t.status === 'pending' ? `retrying after attempt ${t.attempts}: ` : '';
    parts.push(`${prefix}${t.error.code}: ${t.error.message}`);
  } else if (t.status === 'running') parts.push(`attempt ${t.attempts}`);
  for (const w of t.warnings) parts.push(`warning ${w.code}: ${w.message}`);
  return parts.join('; ');
}

export function formatTask(task: TaskView | TaskPreview): string[] {
  const preview = 'dryRun' in task;
  const lines = [
    preview
      ? `Dry run: ${task.action} would be ${task.status} when created; nothing was created`
      : `Task ${task.id}  ${task.action}  ${task.status}`,
    ...table([
      ['  account', task.account],
      ...(task.description ? [['  description', task.description]] : []),
      ...(task.disableTaskId ? [['  reverses', `Disable task ${task.disableTaskId}`]] : []),
      ['  created', `${task.createdAt} by ${task.createdBy}`],
      ...(task.completedAt ? [['  completed', task.completedAt]] : []),
      ...(task.error ? [['  error', `${task.error.code}: ${task.error.message}`]] : []),
    ]),
  ];
  if (task.targets.length === 0) return [...lines, '  (no targets)'];
  const head = preview
    ? ['  provider', 'kind', 'would', 'status', 'detail']
    : ['  provider', 'kind', 'status', 'attempts', 'detail'];
  const rows = task.targets.map((t) =>
    preview
      ? [
          `  ${t.provider}`,
          t.kind,
          (t as TaskPreview['targets'][number]).plannedAction,
          t.status,
          targetDetail(t),
        ]
      : [`  ${t.provider}`, t.kind, t.status, String(t.attempts), targetDetail(t)],
  );
  return [...lines, '', ...table([head, ...rows])];
}

export function formatTaskList(items: TaskView[], nextCursor: string | null): string[] {
  if (items.length === 0) return ['No tasks.'];
  const rows = items.map((t) => {
    const done = t.targets.filter((x) => x.status !== 'pending' && x.status !== 'running').length;
    return [t.id, t.action, t.status, `${done}/${t.targets.length}`, t.createdAt, t.createdBy, t.account];
  });
  return [
    ...table([['id', 'action', 'status', 'targets', 'created', 'by', 'account'], ...rows]),
    ...(nextCursor ? ['', `More: task list --cursor ${nextCursor}`] : []),
  ];
}

export function formatEvents(items: TaskEventView[]): string[] {
  if (items.length === 0) return ['No events.'];
  return table(
    items.map((e) => [
      e.time,
      e.type,
      dash(e.provider),
      e.status,
      e.actor,
      Object.keys(e.detail).length ? JSON.stringify(e.detail) : '',
    ]),
  );
}

export function formatProviders(items: ProviderView[]): string[] {
  if (items.length === 0) return ['No providers are configured (PROVIDERS_FILE).'];
  const rows = items.map((p) => {
    const q = p.queue;
    const queue = q
      ? `${q.waiting}/${q.active}/${q.delayed}/${q.failed}${q.paused ? ' paused' : ''}${q.rateLimitedUntil ? ` rate-limited until ${q.rateLimitedUntil}` : ''}`
      : `unknown (${p.queueError ?? 'no answer'})`;
    return [p.id, p.kind, queue, p.lastSuccess?.at ?? '-', p.lastError?.at ?? '-'];
  });
  const lines = table([
    ['id', 'kind', 'waiting/active/delayed/failed', 'last success', 'last error'],
    ...rows,
  ]);
  for (const p of items) {
    if (p.lastError?.error)
      lines.push(
        `${p.id}: last error ${p.lastError.error.code}: ${p.lastError.error.message} (task ${p.lastError.taskId})`,
      );
  }
  return lines;
}

const mark = (c: ProviderCheck) => (c.ok === true ? '[ok]' : c.ok === false ? '[FAIL]' : '[?]');

export function formatProviderTest(r: ProviderTestResult): string[] {
  const verdict = r.ok
    ? r.checks.some((c) => c.ok === null)
      ? 'passed, with checks to verify by hand'
      : 'passed'
    : 'FAILED';
  return [
    `Provider ${r.provider} (${r.kind}): ${verdict}`,
    ...table(r.checks.map((c) => [`  ${mark(c)}`, c.name, c.message])),
  ];
}

/**
 * `--wait`: one line per change of a target (status, outcome, attempt, error), so a task with many targets
 * stays readable in a log or a pipe as well as on a terminal.
 */
export class ProgressTracker {
  private readonly seen = new Map<string, string>();
  private ended = false;

  constructor(private readonly clock: () => Date = () => new Date()) {}

  update(task: TaskView): string[] {
    const time = this.clock().toISOString().slice(11, 19);
    const lines: string[] = [];
    if (this.seen.size === 0 && !this.ended) {
      lines.push(
        `${time}  task ${task.id}: ${task.action} of ${task.account}, ${task.targets.length} target(s)`,
      );
    }
    const width = Math.max(8, ...task.targets.map((t) => t.provider.length));
    for (const t of task.targets) {
      const key = [t.status, t.outcome, t.attempts, t.error?.code, t.warnings.length].join('|');
      if (this.seen.get(t.provider) === key) continue;
      this.seen.set(t.provider, key);
      lines.push(`${time}  ${t.provider.padEnd(width)}  ${t.status.padEnd(9)}  ${targetDetail(t)}`.trimEnd());
    }
    if (task.status !== 'inProgress' && !this.ended) {
      this.ended = true;
      lines.push(
        `${time}  task ${task.status}${task.error ? ` (${task.error.code}: ${task.error.message})` : ''}`,
      );
    }
    return lines;
  }
}

const count = (n: number) => n.toLocaleString('en-US');

/** The refusals in full (an operator fixes them one by one); the accepted items are in --json or `task list`. */
export function formatBulkResult(result: BulkResponse): string[] {
  const refused = result.items.filter((i) => 'error' in i);
  const accepted = result.items.length - refused.length;
  const lines = [
    `Batch ${result.batchId}: ${count(accepted)} of ${count(result.items.length)} account(s) accepted` +
      (refused.length ? `, ${count(refused.length)} refused` : ''),
  ];
  if (refused.length) {
    lines.push(
      '',
      'Refused:',
      ...table([
        ['  account', 'status', 'code', 'message'],
        ...refused.map((i) => [
          `  ${String(i.account)}`,
          String(i.status),
          'error' in i ? i.error.code : '-',
          'error' in i ? i.error.message : '',
        ]),
      ]),
    );
  }
  return lines;
}

function countsByStatus(b: BatchView): string[] {
  const c = b.counts;
  return [
    `inProgress ${count(c.inProgress)}`,
    `successful ${count(c.successful)}`,
    `partiallySuccessful ${count(c.partiallySuccessful)}`,
    `unsuccessful ${count(c.unsuccessful)}`,
    ...(b.rejected ? [`refused ${count(b.rejected)}`] : []),
  ];
}

/** How far a batch has gone, on one line: its accepted tasks by status. */
export function batchProgressLine(b: BatchView): string {
  const done = b.accepted - b.counts.inProgress;
  return [`batch ${b.id.slice(0, 8)}…: ${count(done)}/${count(b.accepted)} done`, ...countsByStatus(b)].join(
    ' · ',
  );
}

/** The last line of a batch's --wait. */
export function batchSummary(b: BatchView): string {
  return `Batch ${b.id} ${b.done ? 'done' : 'inProgress'}: ${countsByStatus(b).join(' · ')}`;
}

export function formatBatch(b: BatchView): string[] {
  return [
    `Batch ${b.id}  ${b.action}  ${b.done ? 'done' : 'inProgress'}`,
    ...table([
      ['  created', `${b.createdAt} by ${b.createdBy}`],
      [
        '  accounts',
        `${count(b.requested)} requested, ${count(b.accepted)} accepted, ${count(b.rejected)} refused`,
      ],
      ['  inProgress', count(b.counts.inProgress)],
      ['  successful', count(b.counts.successful)],
      ['  partiallySuccessful', count(b.counts.partiallySuccessful)],
      ['  unsuccessful', count(b.counts.unsuccessful)],
    ]),
  ];
}

/**
 * `--wait` on a batch. On a terminal one line rewritten in place (a 10,000-account batch would otherwise
 * print thousands of lines); in a log or a pipe, one timestamped line per change of the counts. `update`
 * and `end` return the text to write, so that the caller owns the stream.
 */
export class BatchProgress {
  private last: string | null = null;

  constructor(
    private readonly tty: boolean,
    private readonly clock: () => Date = () => new Date(),
  ) {}

  update(batch: BatchView): string {
    const line = batchProgressLine(batch);
    if (line === this.last) return '';
    this.last = line;
    // \r and "erase line" rather than padding: the new line may be shorter than the one it replaces.
    if (this.tty) return `\r\x1b[2K${line}`;
    return `${this.clock().toISOString().slice(11, 19)}  ${line}\n`;
  }

  /** Ends the line rewritten in place, so that what follows starts on its own line. */
  end(): string {
    return this.tty && this.last !== null ? '\n' : '';
  }
}
