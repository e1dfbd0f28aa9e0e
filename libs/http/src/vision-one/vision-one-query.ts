import { isStorableDate } from '@app/domain';
import type { TaskCondition, TaskSearch } from '@app/persistence';
import { FilterNode, FilterSyntaxError, parseFilter } from './filter-parser';
import { invalidQuery } from './vision-one-errors';

/** `GET /v3.0/response/tasks` query parameters, as Express hands them over (repeated ones become arrays). */
export interface VisionOneListQuery {
  filter?: unknown;
  top?: unknown;
  startDateTime?: unknown;
  endDateTime?: unknown;
  dateTimeTarget?: unknown;
  skipToken?: unknown;
}

/** Trend's documented page sizes for this list; anything else is refused as Vision One would. */
export const TOP_VALUES = [50, 100, 200] as const;
export const DEFAULT_TOP = 50;
export const DATE_TIME_TARGETS = ['createdDateTime', 'lastActionDateTime'] as const;

export interface ParsedListQuery {
  search: Omit<TaskSearch, 'limit' | 'beforeSeq'> & { beforeSeq?: string };
  top: number;
  /** The parameters that define the listing, repeated in `nextLink` so the next page is the same listing. */
  echo: Array<[string, string]>;
}

export function parseListQuery(q: VisionOneListQuery): ParsedListQuery {
  const filter = single(q, 'filter');
  const topText = single(q, 'top');
  const start = single(q, 'startDateTime');
  const end = single(q, 'endDateTime');
  const target = single(q, 'dateTimeTarget');
  const token = single(q, 'skipToken');

  const top = topText === undefined ? DEFAULT_TOP : Number(topText);
  if (topText !== undefined && !(/^\d+$/.test(topText) && (TOP_VALUES as readonly number[]).includes(top))) {
    throw invalidQuery(`Invalid top: it must be one of ${TOP_VALUES.join(', ')}.`);
  }
  if (target !== undefined && !(DATE_TIME_TARGETS as readonly string[]).includes(target)) {
    throw invalidQuery(`Invalid dateTimeTarget: it must be one of ${DATE_TIME_TARGETS.join(', ')}.`);
  }
  const from = start === undefined ? undefined : parseDateTime('startDateTime', start);
  const to = end === undefined ? undefined : parseDateTime('endDateTime', end);
  if (from && to && from > to) throw invalidQuery('Invalid date range: startDateTime is after endDateTime.');

  let where: TaskCondition | undefined;
  if (filter !== undefined) {
    try {
      const tree = parseFilter(filter);
      where = tree ? toCondition(tree) : undefined;
    } catch (e) {
      if (e instanceof FilterSyntaxError) throw invalidQuery(e.message);
      throw e;
    }
  }

  const echo: Array<[string, string]> = [];
  if (filter !== undefined) echo.push(['filter', filter]);
  echo.push(['top', String(top)]);
  if (start !== undefined) echo.push(['startDateTime', start]);
  if (end !== undefined) echo.push(['endDateTime', end]);
  if (target !== undefined) echo.push(['dateTimeTarget', target]);

  return {
    top,
    echo,
    search: {
      where,
      dateField: target === 'lastActionDateTime' ? 'updatedAt' : 'createdAt',
      from,
      to,
      beforeSeq: token === undefined ? undefined : decodeSkipToken(token),
    },
  };
}

function single(q: VisionOneListQuery, name: keyof VisionOneListQuery): string | undefined {
  const v = q[name];
  if (v === undefined) return undefined;
  if (typeof v !== 'string') throw invalidQuery(`Invalid ${name}: give it once, as a plain value.`);
  return v;
}

/**
 * Vision One's filter tree in the engine's terms. Its status words are computed, not stored: `failed` is
 * either of the engine's two failed roll-ups, and `queued`/`running` split `inProgress` on whether any
 * directory has begun (the same rule as `visionOneStatus`). Words the engine never produces match nothing.
 */
export function toCondition(node: FilterNode): TaskCondition {
  switch (node.type) {
    case 'and':
    case 'or':
      return { kind: node.type, operands: node.operands.map(toCondition) };
    case 'not':
      return { kind: 'not', operand: toCondition(node.operand) };
    case 'eq':
      switch (node.field) {
        case 'id':
          return { kind: 'id', value: node.value };
        case 'account':
          return { kind: 'createdBy', value: node.value };
        case 'action':
          return node.value === 'disableAccount' || node.value === 'enableAccount'
            ? { kind: 'action', value: node.value }
            : { kind: 'false' };
        case 'status':
          return statusCondition(node.value);
      }
  }
}

function statusCondition(status: string): TaskCondition {
  switch (status) {
    case 'succeeded':
      return { kind: 'status', value: 'successful' };
    case 'failed':
      return {
        kind: 'or',
        operands: [
          { kind: 'status', value: 'partiallySuccessful' },
          { kind: 'status', value: 'unsuccessful' },
        ],
      };
    case 'running':
      return { kind: 'and', operands: [{ kind: 'status', value: 'inProgress' }, { kind: 'started' }] };
    case 'queued':
      return {
        kind: 'and',
        operands: [
          { kind: 'status', value: 'inProgress' },
          { kind: 'not', operand: { kind: 'started' } },
        ],
      };
    default:
      return { kind: 'false' };
  }
}

const DATE_TIME =
  /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?(?:(Z)|([+-])(\d{2}):(\d{2}))$/i;

/**
 * ISO 8601 date-times with a time zone (`2021-04-05T08:22:37Z`, `…+02:00`, fractions allowed), checked field
 * by field: `new Date()` alone would accept `2021-02-30` and years PostgreSQL's timestamptz cannot hold.
 */
export function parseDateTime(name: string, text: string): Date {
  const m = DATE_TIME.exec(text);
  const bad = () =>
    invalidQuery(
      `Invalid ${name}: expected an ISO 8601 date-time with a time zone between years 0001 and 9999, like 2021-04-05T08:22:37Z.`,
    );
  if (!m) throw bad();
  // Groups 1-5 are required by the pattern; seconds and the offset are optional.
  const [y, mo, d, h, mi, sec] = [1, 2, 3, 4, 5, 6].map((i) => Number(m[i] ?? 0));
  const fraction = m[7] ?? '';
  const [sign, oh, om] = [m[9], Number(m[10] ?? 0), Number(m[11] ?? 0)];
  if (y < 1 || mo < 1 || mo > 12 || d < 1 || d > daysInMonth(y, mo)) throw bad();
  if (h > 23 || mi > 59 || sec > 59 || oh > 23 || om > 59) throw bad();
  const date = new Date(0);
  date.setUTCFullYear(y, mo - 1, d);
  date.setUTCHours(h, mi, sec, Number((fraction + '000').slice(0, 3)));
  const offsetMs = (sign === '-' ? -1 : 1) * (oh * 60 + om) * 60_000;
  const instant = new Date(date.getTime() - (sign ? offsetMs : 0));
  if (!isStorableDate(instant)) throw bad();
  return instant;
}

function daysInMonth(year: number, month: number): number {
  const d = new Date(0);
  d.setUTCFullYear(year, month, 0);
  return d.getUTCDate();
}

/** `skipToken` is opaque to clients: the acceptance number of the last task of the page before. */
export function encodeSkipToken(seq: string): string {
  return Buffer.from(`seq:${seq}`, 'utf8').toString('base64url');
}

const MAX_BIGINT = 9223372036854775807n;

export function decodeSkipToken(token: string): string {
  const m = /^seq:([1-9]\d{0,18})$/.exec(Buffer.from(token, 'base64url').toString('utf8'));
  if (!m || BigInt(m[1]) > MAX_BIGINT || encodeSkipToken(m[1]) !== token) {
    throw invalidQuery('Invalid skipToken: use the nextLink of the previous page as it is.');
  }
  return m[1];
}
