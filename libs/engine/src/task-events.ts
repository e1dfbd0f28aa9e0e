import { redact } from '@app/logging';

export interface TaskEventView {
  type: 'task.created' | 'task.targetUpdated' | 'task.completed';
  time: string;
  /** The API key's name, `cli`, or `worker` / `engine` for what the engine did on its own. */
  actor: string;
  provider: string | null;
  status: string;
  detail: Record<string, unknown>;
}

/** `scheme://user:password@host/path?query`: the parts of a URL that may carry a credential. */
const URL_IN_TEXT =
  /\b([a-z][a-z0-9+.-]*:\/\/)([^\s/?#"'<>]*@)?([^\s/?#"'<>]*)([^\s?#"'<>]*)(\?[^\s#"'<>]*)?/gi;
const AUTH_IN_TEXT = /\b(Bearer|SSWS|Basic)\s+[A-Za-z0-9._~+/=-]{8,}/g;

/**
 * An event as the timeline shows it. Details are written by the engine (outcomes, error codes and messages,
 * task ids), but error messages quote directories and URLs: keys that name a secret are redacted, and URLs
 * lose their credentials and query values, so nothing secret reaches a reader with only tasks:read.
 */
export function toTaskEventView(e: {
  type: TaskEventView['type'];
  provider: string | null;
  status: string;
  actor: string;
  detail: Record<string, unknown> | null;
  createdAt: Date | string;
}): TaskEventView {
  return {
    type: e.type,
    time: new Date(e.createdAt).toISOString(),
    actor: e.actor,
    provider: e.provider,
    status: e.status,
    detail: scrub(redact(e.detail ?? {})) as Record<string, unknown>,
  };
}

function scrub(value: unknown): unknown {
  if (typeof value === 'string') return scrubText(value);
  if (Array.isArray(value)) return value.map(scrub);
  if (value && typeof value === 'object')
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, scrub(v)]));
  return value;
}

export function scrubText(text: string): string {
  return text
    .replace(
      URL_IN_TEXT,
      (_m, scheme: string, userinfo: string | undefined, host: string, path: string, query) =>
        `${scheme}${userinfo ? '***@' : ''}${host}${path}${query ? '?***' : ''}`,
    )
    .replace(AUTH_IN_TEXT, (_m, scheme: string) => `${scheme} ***`);
}
