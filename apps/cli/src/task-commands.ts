import { setTimeout as sleep } from 'node:timers/promises';
import type { ProviderService, TaskService, TaskView } from '@app/engine';
import { Command, EXIT } from './args';
import {
  formatEvents,
  formatProviders,
  formatProviderTest,
  formatTask,
  formatTaskList,
  ProgressTracker,
} from './format';

/** Every task the CLI creates records this creator (CONTRACT §10). */
export const CLI_CREATOR = 'cli';

export interface Io {
  out(line: string): void;
  err(line: string): void;
}

export interface Services {
  tasks: Pick<
    TaskService,
    | 'createDisableTask'
    | 'previewDisableTask'
    | 'createEnableTask'
    | 'previewEnableTask'
    | 'createEnableFromDisableTask'
    | 'previewEnableFromDisableTask'
    | 'getTask'
    | 'getTaskEvents'
    | 'listTasks'
    | 'cancelTask'
  >;
  providers: Pick<ProviderService, 'list' | 'test'>;
}

export interface WaitOptions {
  /** Between two reads of the task while waiting: a polling interval, not a synchronisation. */
  pollMs: number;
  /** Called when --wait starts, with a function that says which task is being waited for (for Ctrl-C). */
  onWaiting?: (taskId: string) => void;
}

type TaskCommand = Extract<Command, { kind: `task-${string}` | `provider-${string}` }>;

/** Runs one task or provider command; DomainErrors propagate to main, which maps them to exit codes. */
export async function runTaskCommand(
  cmd: TaskCommand,
  services: Services,
  io: Io,
  wait: WaitOptions = { pollMs: 500 },
): Promise<number> {
  const { tasks, providers } = services;
  const print = (json: boolean, value: unknown, human: () => string[]) => {
    if (json) io.out(JSON.stringify(value, null, 2));
    else for (const line of human()) io.out(line);
  };

  switch (cmd.kind) {
    case 'task-disable':
    case 'task-enable': {
      const req = { account: cmd.account, description: cmd.description };
      if (cmd.dryRun) {
        const preview =
          cmd.kind === 'task-disable'
            ? await tasks.previewDisableTask({ ...req, providers: cmd.providers }, CLI_CREATOR)
            : cmd.fromTask
              ? await tasks.previewEnableFromDisableTask(cmd.fromTask, req, CLI_CREATOR)
              : await tasks.previewEnableTask(req, CLI_CREATOR);
        print(cmd.json, preview, () => formatTask(preview));
        return EXIT.ok;
      }
      const created =
        cmd.kind === 'task-disable'
          ? await tasks.createDisableTask({ ...req, providers: cmd.providers }, CLI_CREATOR)
          : cmd.fromTask
            ? await tasks.createEnableFromDisableTask(cmd.fromTask, req, CLI_CREATOR)
            : await tasks.createEnableTask(req, CLI_CREATOR);
      if (!cmd.wait) {
        print(cmd.json, created, () => formatTask(created));
        return EXIT.ok;
      }
      wait.onWaiting?.(created.id);
      const ended = await waitForEnd(tasks, created, io, cmd.json, cmd.timeoutMs, wait.pollMs);
      if (!ended) {
        const task = await tasks.getTask(created.id);
        if (cmd.json) io.out(JSON.stringify(task, null, 2));
        io.err(
          `task ${created.id} is still ${task.status} after ${cmd.timeoutMs / 1000} s; it goes on. ` +
            `Follow it with: task show ${created.id}`,
        );
        return EXIT.error;
      }
      if (cmd.json) io.out(JSON.stringify(ended, null, 2));
      return ended.status === 'successful' ? EXIT.ok : EXIT.notSuccessful;
    }
    case 'task-show': {
      const task = await tasks.getTask(cmd.id);
      print(cmd.json, task, () => formatTask(task));
      return EXIT.ok;
    }
    case 'task-events': {
      const events = await tasks.getTaskEvents(cmd.id);
      print(cmd.json, events, () => formatEvents(events.items));
      return EXIT.ok;
    }
    case 'task-cancel': {
      const task = await tasks.cancelTask(cmd.id, CLI_CREATOR);
      print(cmd.json, task, () => formatTask(task));
      return EXIT.ok;
    }
    case 'task-list': {
      const page = await tasks.listTasks({
        status: cmd.status,
        action: cmd.action,
        account: cmd.account,
        batchId: cmd.batch,
        limit: cmd.limit,
        cursor: cmd.cursor,
      });
      print(cmd.json, page, () => formatTaskList(page.items, page.nextCursor));
      return EXIT.ok;
    }
    case 'provider-list': {
      const list = await providers.list();
      print(cmd.json, list, () => formatProviders(list.items));
      return EXIT.ok;
    }
    case 'provider-test': {
      const result = await providers.test(cmd.id);
      print(cmd.json, result, () => formatProviderTest(result));
      return result.ok ? EXIT.ok : EXIT.notSuccessful;
    }
  }
}

/**
 * Reads the task until it ends, printing a line per change of each target. With --json the lines go to
 * stderr, so that stdout holds the final JSON only. Null when the timeout passes first.
 */
async function waitForEnd(
  tasks: Services['tasks'],
  created: TaskView,
  io: Io,
  json: boolean,
  timeoutMs: number,
  pollMs: number,
): Promise<TaskView | null> {
  const progress = json ? io.err : io.out;
  const tracker = new ProgressTracker();
  const deadline = Date.now() + timeoutMs;
  let task = created;
  for (;;) {
    for (const line of tracker.update(task)) progress(line);
    if (task.status !== 'inProgress') return task;
    if (Date.now() >= deadline) return null;
    await sleep(Math.min(pollMs, Math.max(0, deadline - Date.now())));
    task = await tasks.getTask(task.id);
  }
}
