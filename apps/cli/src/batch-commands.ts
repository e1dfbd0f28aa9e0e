import { setTimeout as sleep } from 'node:timers/promises';
import { checkBulkSize, parseAccountList } from './account-list';
import { Command, EXIT, UsageError } from './args';
import type { BatchView, TaskService } from '@app/engine';
import { BatchProgress, batchSummary, formatBatch, formatBulkResult } from './format';
import { CLI_CREATOR, Io } from './task-commands';

export interface BatchIo extends Io {
  /** Text as is (no newline added): a progress line rewritten in place needs it. */
  writeOut(text: string): void;
  writeErr(text: string): void;
  outIsTty: boolean;
  errIsTty: boolean;
  /** The whole of a file, or of stdin for `-`. */
  readText(path: string): Promise<string>;
}

export type BatchServices = Pick<TaskService, 'createDisableTasks' | 'createEnableTasks' | 'getBatch'>;

export interface BatchWaitOptions {
  /** Between two reads of the batch while waiting: a polling interval, not a synchronisation. */
  pollMs: number;
  /** Called when --wait starts, with the batch waited for (for Ctrl-C). */
  onWaiting?: (batchId: string) => void;
}

type BatchCommand = Extract<Command, { kind: `batch-${string}` }>;

/** Exit 0 only when every account was accepted and every task ended successful. */
export function batchExitCode(b: BatchView): number {
  const c = b.counts;
  return b.rejected === 0 && c.partiallySuccessful === 0 && c.unsuccessful === 0 && c.inProgress === 0
    ? EXIT.ok
    : EXIT.notSuccessful;
}

export async function runBatchCommand(
  cmd: BatchCommand,
  services: BatchServices,
  io: BatchIo,
  wait: BatchWaitOptions = { pollMs: 1000 },
): Promise<number> {
  if (cmd.kind === 'batch-show') {
    const batch = await services.getBatch(cmd.id);
    if (!cmd.wait) {
      if (cmd.json) io.out(JSON.stringify(batch, null, 2));
      else for (const line of formatBatch(batch)) io.out(line);
      return EXIT.ok;
    }
    wait.onWaiting?.(batch.id);
    const ended = await waitForBatch(services, batch, io, cmd.json, cmd.timeoutMs, wait.pollMs);
    return finish(io, cmd.json, ended.batch, ended.done, cmd.timeoutMs, (b) => b);
  }

  const accounts = [...cmd.accounts];
  if (cmd.file !== undefined) accounts.push(...parseAccountList(await io.readText(cmd.file)));
  const sizeError = checkBulkSize(accounts.length);
  if (sizeError) throw new UsageError(sizeError);
  const common = { accounts, description: cmd.description, callbackUrl: cmd.callbackUrl };
  const result =
    cmd.kind === 'batch-disable'
      ? await services.createDisableTasks({ ...common, providers: cmd.providers }, CLI_CREATOR)
      : await services.createEnableTasks(common, CLI_CREATOR);
  const anyRefused = result.items.some((i) => 'error' in i);

  if (!cmd.wait) {
    if (cmd.json) io.out(JSON.stringify(result, null, 2));
    else {
      for (const line of formatBulkResult(result)) io.out(line);
      io.out('');
      io.out(`Follow it with: batch show ${result.batchId} --wait`);
    }
    return anyRefused ? EXIT.notSuccessful : EXIT.ok;
  }
  // The refusals come first: they are final, and a long wait should not hide them.
  if (!cmd.json) for (const line of [...formatBulkResult(result), '']) io.out(line);
  wait.onWaiting?.(result.batchId);
  const first = await services.getBatch(result.batchId);
  const ended = await waitForBatch(services, first, io, cmd.json, cmd.timeoutMs, wait.pollMs);
  return finish(io, cmd.json, ended.batch, ended.done, cmd.timeoutMs, (batch) => ({ ...result, batch }));
}

function finish(
  io: BatchIo,
  json: boolean,
  batch: BatchView,
  done: boolean,
  timeoutMs: number,
  toJson: (b: BatchView) => unknown,
): number {
  if (json) io.out(JSON.stringify(toJson(batch), null, 2));
  if (!done) {
    io.err(
      `batch ${batch.id} still has ${batch.counts.inProgress.toLocaleString('en-US')} task(s) inProgress after ` +
        `${timeoutMs / 1000} s; they go on. Follow them with: batch show ${batch.id} --wait`,
    );
    return EXIT.error;
  }
  if (!json) io.out(batchSummary(batch));
  return batchExitCode(batch);
}

/**
 * Reads the batch about once a poll interval until no accepted task is inProgress, or the timeout. Progress
 * goes to stdout, or to stderr with --json so that stdout holds the final JSON only.
 */
async function waitForBatch(
  services: BatchServices,
  first: BatchView,
  io: BatchIo,
  json: boolean,
  timeoutMs: number,
  pollMs: number,
): Promise<{ batch: BatchView; done: boolean }> {
  const write = json ? io.writeErr : io.writeOut;
  const progress = new BatchProgress(json ? io.errIsTty : io.outIsTty);
  const deadline = Date.now() + timeoutMs;
  let batch = first;
  try {
    for (;;) {
      const text = progress.update(batch);
      if (text) write(text);
      if (batch.done) return { batch, done: true };
      if (Date.now() >= deadline) return { batch, done: false };
      await sleep(Math.min(pollMs, Math.max(0, deadline - Date.now())));
      batch = await services.getBatch(batch.id);
    }
  } finally {
    const text = progress.end();
    if (text) write(text);
  }
}
