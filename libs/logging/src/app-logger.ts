import { LoggerService } from '@nestjs/common';
import { currentRequestContext } from './request-context';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

/** Keys whose values never reach a log line, whatever object they hide in. */
const SECRET_KEY = /pass(word)?|secret|token|authorization|api[-_]?key|private[-_]?key|cookie|credential/i;
/**
 * Keys whose values are bound SQL parameters (TypeORM's QueryFailedError, pg's errors): they hold whatever a
 * caller sent, callback URLs with tokens included, so a failed query is logged without them.
 */
const PARAMETER_KEY = /^(parameters|params|values)$/;
const MAX_DEPTH = 6;

export function redact(value: unknown, depth = 0): unknown {
  if (value === null || typeof value !== 'object') return value;
  if (depth > MAX_DEPTH) return '[depth]';
  if (value instanceof Error) {
    return {
      name: value.name,
      message: value.message,
      ...(redact({ ...value }, depth + 1) as object),
      ...(value.stack ? { stack: value.stack } : {}),
    };
  }
  if (Array.isArray(value)) return value.map((v) => redact(v, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    if (PARAMETER_KEY.test(k)) continue;
    out[k] = SECRET_KEY.test(k) ? '[redacted]' : redact(v, depth + 1);
  }
  return out;
}

/**
 * Structured JSON lines on stdout. Used by Nest (as its LoggerService) and directly by libraries, so one
 * redaction rule covers both.
 */
export class AppLogger implements LoggerService {
  private static readonly order: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

  constructor(
    private readonly context: string = 'app',
    private readonly minLevel: LogLevel = (process.env.LOG_LEVEL as LogLevel) || 'info',
    private readonly sink: (line: string) => void = (line) => process.stdout.write(line + '\n'),
  ) {}

  child(context: string): AppLogger {
    return new AppLogger(context, this.minLevel, this.sink);
  }

  write(level: LogLevel, msg: string, fields: Record<string, unknown> = {}): void {
    if (AppLogger.order[level] < AppLogger.order[this.minLevel]) return;
    const request = currentRequestContext();
    const entry = {
      time: new Date().toISOString(),
      level,
      context: this.context,
      ...(request ? { requestId: request.requestId } : {}),
      msg,
      ...(redact(fields) as object),
    };
    this.sink(JSON.stringify(entry));
  }

  debug(msg: string, fields?: Record<string, unknown>): void {
    this.write('debug', msg, fields);
  }
  info(msg: string, fields?: Record<string, unknown>): void {
    this.write('info', msg, fields);
  }
  warn(msg: string, fields?: Record<string, unknown>): void {
    this.write('warn', msg, fields);
  }
  error(msg: string, fields?: Record<string, unknown> | string): void {
    this.write('error', msg, typeof fields === 'string' ? { stack: fields } : fields);
  }

  // Nest's LoggerService signature: (message, ...optionalParams) where the last one is the context.
  log(message: unknown, ...params: unknown[]): void {
    this.write('info', String(message), nestFields(params));
  }
  verbose(message: unknown, ...params: unknown[]): void {
    this.write('debug', String(message), nestFields(params));
  }
  fatal(message: unknown, ...params: unknown[]): void {
    this.write('error', String(message), nestFields(params));
  }
}

function nestFields(params: unknown[]): Record<string, unknown> {
  const context =
    params.length > 0 && typeof params[params.length - 1] === 'string' ? params.pop() : undefined;
  return { ...(context ? { nestContext: context } : {}), ...(params.length ? { params } : {}) };
}
