import { parseArgs } from 'node:util';
import { DEFAULT_DISABLE_LIMIT } from '@app/auth';
import { checkBulkSize } from './account-list';

/** Exit codes (documented in docs/operations.md, "CLI"). */
export const EXIT = {
  ok: 0,
  /** A task ended partiallySuccessful or unsuccessful; a provider test failed; nothing to revoke. */
  notSuccessful: 1,
  usage: 2,
  /** Refused (4xx other than bad input), failed, or timed out. */
  error: 3,
} as const;

export const USAGE = `Usage: npm run cli -- <command>   (from a build: node -r tsconfig-paths/register dist/apps/cli/src/main.js <command>)

Tasks (creator "cli"; no API key needed: the CLI uses DATABASE_URL, REDIS_URL and PROVIDERS_FILE directly)
  task disable <account> [--provider <id>]... [--description <text>] [--dry-run] [--wait [--timeout <s>]] [--json]
  task enable <account> | --from-task <disableTaskId>  [--description <text>] [--dry-run] [--wait [--timeout <s>]] [--json]
  task show <id> [--json]
  task events <id> [--json]
  task list [--status <s>] [--action <a>] [--account <identifier>] [--batch <batchId>] [--limit <n>] [--cursor <c>] [--json]
  task cancel <id> [--json]
Bulk (one request of up to 10,000 accounts: one batch, one task per accepted account)
  batch disable [<account>...] [--file <path>|-] [--provider <id>]... [--providers <id,id>] [--description <text>]
                [--callback-url <url>] [--wait [--timeout <s>]] [--json]
  batch enable [<account>...] [--file <path>|-] [--description <text>] [--callback-url <url>] [--wait [--timeout <s>]] [--json]
  batch show <batchId> [--wait [--timeout <s>]] [--json]
Directories
  provider list [--json]
  provider test <id> [--json]
API keys and the database
  api-key create --name <name> --scopes <scope,scope> [--disable-limit <n>/<duration> | none]
                         prints the new key once; the disable limit (default ${DEFAULT_DISABLE_LIMIT} without
                         admin, none with it) caps the Disable tasks the key may create
  api-key list
  api-key revoke <name>
  migration run

--wait shows each directory's progress until the task ends (default --timeout 600); for a batch, the count of
       its tasks by status, about once a second, until none is inProgress (default --timeout 3600).
--file reads one account per line (- for stdin); blank lines and lines starting with # are skipped.
--json prints JSON only on stdout (progress goes to stderr).
Exit: 0 done / successful, 1 a task not successful, a batch item refused or a provider test failed, 2 usage,
      3 error or timeout.
Scopes: tasks:read, tasks:write, webhooks:manage, admin`;

export type Command =
  | { kind: 'help' }
  | {
      kind: 'task-disable';
      account: string;
      providers?: string[];
      description?: string;
      dryRun: boolean;
      wait: boolean;
      timeoutMs: number;
      json: boolean;
    }
  | {
      kind: 'task-enable';
      account?: string;
      fromTask?: string;
      description?: string;
      dryRun: boolean;
      wait: boolean;
      timeoutMs: number;
      json: boolean;
    }
  | { kind: 'task-show' | 'task-events' | 'task-cancel'; id: string; json: boolean }
  | {
      kind: 'task-list';
      status?: string;
      action?: string;
      account?: string;
      batch?: string;
      limit?: string;
      cursor?: string;
      json: boolean;
    }
  | {
      kind: 'batch-disable' | 'batch-enable';
      /** From the arguments; those of --file are read when the command runs and come after these. */
      accounts: string[];
      file?: string;
      providers?: string[];
      description?: string;
      callbackUrl?: string;
      wait: boolean;
      timeoutMs: number;
      json: boolean;
    }
  | { kind: 'batch-show'; id: string; wait: boolean; timeoutMs: number; json: boolean }
  | { kind: 'provider-list'; json: boolean }
  | { kind: 'provider-test'; id: string; json: boolean }
  | { kind: 'api-key-create'; name: string; scopes: string[]; disableLimit?: string }
  | { kind: 'api-key-list' }
  | { kind: 'api-key-revoke'; name: string }
  | { kind: 'migration-run' };

export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

const OPTIONS = {
  provider: { type: 'string', multiple: true },
  providers: { type: 'string', multiple: true },
  file: { type: 'string' },
  'callback-url': { type: 'string' },
  description: { type: 'string' },
  'dry-run': { type: 'boolean' },
  wait: { type: 'boolean' },
  timeout: { type: 'string' },
  json: { type: 'boolean' },
  'from-task': { type: 'string' },
  status: { type: 'string' },
  action: { type: 'string' },
  account: { type: 'string' },
  batch: { type: 'string' },
  limit: { type: 'string' },
  cursor: { type: 'string' },
  name: { type: 'string' },
  scopes: { type: 'string' },
  'disable-limit': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

type OptionName = keyof typeof OPTIONS;

/** Which options each command takes; any other is a usage error, not silently ignored. */
const ALLOWED: Record<string, OptionName[]> = {
  'task disable': ['provider', 'description', 'dry-run', 'wait', 'timeout', 'json'],
  'task enable': ['from-task', 'description', 'dry-run', 'wait', 'timeout', 'json'],
  'task show': ['json'],
  'task events': ['json'],
  'task cancel': ['json'],
  'task list': ['status', 'action', 'account', 'batch', 'limit', 'cursor', 'json'],
  'batch disable': [
    'file',
    'provider',
    'providers',
    'description',
    'callback-url',
    'wait',
    'timeout',
    'json',
  ],
  'batch enable': ['file', 'description', 'callback-url', 'wait', 'timeout', 'json'],
  'batch show': ['wait', 'timeout', 'json'],
  'provider list': ['json'],
  'provider test': ['json'],
  'api-key create': ['name', 'scopes', 'disable-limit'],
  'api-key list': [],
  'api-key revoke': [],
  'migration run': [],
};

const DEFAULT_WAIT_TIMEOUT_S = 600;
/** 10,000 accounts at Okta's 600 lifecycle requests a minute take about 17 minutes. */
const DEFAULT_BATCH_WAIT_TIMEOUT_S = 3600;

export function parseCommand(argv: string[]): Command {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, allowPositionals: true, strict: true, options: OPTIONS });
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  const { positionals, values } = parsed;
  if (values.help || positionals.length === 0) return { kind: 'help' };
  const [group, verb, ...rest] = positionals;
  const name = `${group} ${verb ?? ''}`.trim();
  const allowed = ALLOWED[name];
  if (!allowed) throw new UsageError(`unknown command: ${name}`);
  const extra = (Object.keys(values) as OptionName[]).filter((k) => k !== 'help' && !allowed.includes(k));
  if (extra.length) throw new UsageError(`${name} does not take ${extra.map((k) => `--${k}`).join(', ')}`);
  const json = values.json === true;
  const one = (what: string): string => {
    if (rest.length !== 1) throw new UsageError(`${name} takes exactly one ${what}`);
    return rest[0];
  };
  const none = () => {
    if (rest.length) throw new UsageError(`${name} takes no argument (got ${rest.join(' ')})`);
  };
  const waiting = (defaultTimeoutS = DEFAULT_WAIT_TIMEOUT_S) => {
    const wait = values.wait === true;
    const dryRun = values['dry-run'] === true;
    if (wait && dryRun)
      throw new UsageError('--wait and --dry-run exclude each other: a dry run creates no task');
    if (values.timeout !== undefined && !wait) throw new UsageError('--timeout goes with --wait');
    const seconds = values.timeout === undefined ? defaultTimeoutS : Number(values.timeout);
    if (!Number.isFinite(seconds) || seconds <= 0)
      throw new UsageError('--timeout must be a number of seconds');
    return { wait, dryRun, timeoutMs: Math.round(seconds * 1000) };
  };

  switch (name) {
    case 'task disable':
      return {
        kind: 'task-disable',
        account: one('account'),
        providers: values.provider,
        description: values.description,
        ...waiting(),
        json,
      };
    case 'task enable': {
      const fromTask = values['from-task'];
      if (fromTask !== undefined) none();
      else one('account (or --from-task <disableTaskId>)');
      return {
        kind: 'task-enable',
        account: fromTask === undefined ? rest[0] : undefined,
        fromTask,
        description: values.description,
        ...waiting(),
        json,
      };
    }
    case 'task show':
      return { kind: 'task-show', id: one('task id'), json };
    case 'task events':
      return { kind: 'task-events', id: one('task id'), json };
    case 'task cancel':
      return { kind: 'task-cancel', id: one('task id'), json };
    case 'task list':
      none();
      return {
        kind: 'task-list',
        status: values.status,
        action: values.action,
        account: values.account,
        batch: values.batch,
        limit: values.limit,
        cursor: values.cursor,
        json,
      };
    case 'batch disable':
    case 'batch enable': {
      const { wait, timeoutMs } = waiting(DEFAULT_BATCH_WAIT_TIMEOUT_S);
      const file = values.file;
      if (file === '') throw new UsageError('--file needs a path (or - for stdin)');
      if (rest.length === 0 && file === undefined)
        throw new UsageError(`${name} needs accounts: as arguments, or --file <path> (- for stdin)`);
      // With --file the total is known only once the file is read; checkBulkSize runs again then.
      const sizeError = checkBulkSize(rest.length);
      if (sizeError && rest.length > 0) throw new UsageError(sizeError);
      const providers = [
        ...(values.provider ?? []),
        ...(values.providers ?? []).flatMap((list) => list.split(',').map((p) => p.trim())),
      ];
      if (providers.some((p) => p === '')) throw new UsageError('--providers takes ids separated by commas');
      return {
        kind: verb === 'disable' ? 'batch-disable' : 'batch-enable',
        accounts: rest,
        file,
        providers: providers.length ? providers : undefined,
        description: values.description,
        callbackUrl: values['callback-url'],
        wait,
        timeoutMs,
        json,
      };
    }
    case 'batch show': {
      const { wait, timeoutMs } = waiting(DEFAULT_BATCH_WAIT_TIMEOUT_S);
      return { kind: 'batch-show', id: one('batch id'), wait, timeoutMs, json };
    }
    case 'provider list':
      none();
      return { kind: 'provider-list', json };
    case 'provider test':
      return { kind: 'provider-test', id: one('provider id'), json };
    case 'api-key create': {
      none();
      if (!values.name || !values.scopes) throw new UsageError('api-key create needs --name and --scopes');
      const scopes = values.scopes
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean);
      return { kind: 'api-key-create', name: values.name, scopes, disableLimit: values['disable-limit'] };
    }
    case 'api-key list':
      none();
      return { kind: 'api-key-list' };
    case 'api-key revoke':
      return { kind: 'api-key-revoke', name: one('key name') };
    default:
      none();
      return { kind: 'migration-run' };
  }
}
