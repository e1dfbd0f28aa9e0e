import { DomainError } from '@app/domain';
import { invalidRequestFormat, toVisionOneError } from './vision-one-errors';
import type { VisionOneError } from './vision-one-view';

/** One answer of a 207 multi-status body, in request order (Trend's `*_207_*.json`). */
export interface VisionOneItemResult {
  status: number;
  headers?: Array<{ name: string; value: string }>;
  body?: { error: VisionOneError };
}

export interface VisionOneAccountRequest {
  accountName: string;
  description?: unknown;
}

/** Vision One accepts batches; this bounds one request's work (and stays inside the 64 kB body limit). */
export const MAX_BATCH_ITEMS = 1000;
const ITEM_FIELDS = ['accountName', 'description'];

/** The whole body is refused (one 400, nothing created) unless it is an array of 1 to MAX_BATCH_ITEMS objects. */
export function checkBatch(body: unknown): Array<Record<string, unknown>> {
  if (!Array.isArray(body)) {
    throw invalidRequestFormat(
      'The body must be a JSON array of objects, e.g. [{"accountName": "jdoe@corp.example"}] (Content-Type: application/json).',
    );
  }
  if (body.length === 0 || body.length > MAX_BATCH_ITEMS) {
    throw invalidRequestFormat(`The array must hold 1 to ${MAX_BATCH_ITEMS} items; it holds ${body.length}.`);
  }
  const notObject = body.findIndex((x) => x === null || typeof x !== 'object' || Array.isArray(x));
  if (notObject >= 0) throw invalidRequestFormat(`Item ${notObject} is not a JSON object.`);
  return body as Array<Record<string, unknown>>;
}

export const operationLocation = (url: string) => [{ name: 'Operation-Location', value: url }];

export function accepted(url: string): VisionOneItemResult {
  return { status: 202, headers: operationLocation(url) };
}

function requiredFieldNotFound(field: string): VisionOneItemResult {
  return {
    status: 400,
    body: {
      error: { code: 'BadRequest', message: `Invalid request - Required fields not found: ${field}.` },
    },
  };
}

function invalidFieldFormat(field: string, code: string, detail: string): VisionOneItemResult {
  return {
    status: 400,
    body: {
      error: {
        code: 'BadRequest',
        message: `Invalid request - Invalid field format: ${field}.`,
        innererror: { code, message: detail },
      },
    },
  };
}

/**
 * The checks only this door needs (its field names); everything else, the account's syntax included, is
 * TaskService's, so an item fails here exactly as the same request fails on the native API.
 */
export function checkItem(item: Record<string, unknown>): VisionOneAccountRequest | VisionOneItemResult {
  if (item.accountName === undefined || item.accountName === null)
    return requiredFieldNotFound('accountName');
  const unknown = Object.keys(item).filter((k) => !ITEM_FIELDS.includes(k));
  if (unknown.length) {
    return invalidFieldFormat(
      unknown[0],
      'invalidBody',
      `Unknown field(s): ${unknown.join(', ')}. Allowed: ${ITEM_FIELDS.join(', ')}.`,
    );
  }
  if (typeof item.accountName !== 'string') {
    return invalidFieldFormat('accountName', 'invalidAccount', 'accountName must be a string');
  }
  return { accountName: item.accountName, description: item.description };
}

/**
 * A rule the engine enforced, as the item Vision One would answer (CONTRACT §6; the mapping table is in
 * docs/integrations.md). `locate` turns a task id into its Operation-Location URL.
 */
export function itemForError(e: unknown, locate: (taskId: string) => string): VisionOneItemResult {
  if (e instanceof DomainError) {
    const inner = { code: e.code, message: e.message, ...e.details };
    switch (e.code) {
      case 'invalidAccount':
        return invalidFieldFormat('accountName', e.code, e.message);
      case 'invalidDescription':
        return invalidFieldFormat('description', e.code, e.message);
      case 'taskInProgress': {
        // Trend's duplication answer names the task already running, so the playbook can poll that one.
        const taskId = typeof e.details.taskId === 'string' ? e.details.taskId : null;
        return {
          status: 400,
          ...(taskId ? { headers: operationLocation(locate(taskId)) } : {}),
          body: { error: { code: 'TaskError', message: 'Task duplication.', innererror: inner } },
        };
      }
      case 'noPriorDisableTask':
        return {
          status: 400,
          body: { error: { code: 'BadRequest', message: 'Target not found.', innererror: inner } },
        };
      case 'ambiguousAccount':
        return {
          status: 400,
          body: { error: { code: 'BadRequest', message: e.message, innererror: inner } },
        };
    }
  }
  const { status, error } = toVisionOneError(e);
  return { status, body: { error } };
}
