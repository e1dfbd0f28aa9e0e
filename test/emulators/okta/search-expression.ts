import { EmulatedUser } from './user-store';

/**
 * The `search=` / `filter=` expression language of GET /api/v1/users, the SCIM filter subset Okta documents
 * (RFC 7644 §3.4.2.2): `attr op "value"`, `attr pr`, `and`/`or` (and binds tighter), parentheses. String
 * values are JSON strings (so `\"` and `\\` are the escapes). Property names are case-sensitive; operators and
 * string values are not (okta-management-openapi-spec, listUsers `search`). `ne` and `not` are refused, as
 * Okta refuses them.
 */
export type Predicate = (u: EmulatedUser) => boolean;

type Token =
  { kind: 'lparen' | 'rparen' } | { kind: 'string'; value: string } | { kind: 'word'; value: string };

export class SearchSyntaxError extends Error {}

function tokenize(input: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < input.length) {
    const c = input[i];
    if (/\s/.test(c)) {
      i++;
    } else if (c === '(' || c === ')') {
      tokens.push({ kind: c === '(' ? 'lparen' : 'rparen' });
      i++;
    } else if (c === '"') {
      let j = i + 1;
      while (j < input.length && input[j] !== '"') j += input[j] === '\\' ? 2 : 1;
      if (j >= input.length) throw new SearchSyntaxError('unterminated string');
      try {
        tokens.push({ kind: 'string', value: JSON.parse(input.slice(i, j + 1)) as string });
      } catch {
        throw new SearchSyntaxError('bad string escape');
      }
      i = j + 1;
    } else {
      let j = i;
      while (j < input.length && !/[\s()"]/.test(input[j])) j++;
      tokens.push({ kind: 'word', value: input.slice(i, j) });
      i = j;
    }
  }
  return tokens;
}

function attribute(u: EmulatedUser, path: string): unknown {
  if (path.startsWith('profile.')) return u.profile[path.slice('profile.'.length)];
  if (path === 'type.id') return 'oty1emulatortype00001';
  return (u as unknown as Record<string, unknown>)[path];
}

function compare(actual: unknown, op: string, expected: string | number | boolean | null): boolean {
  if (actual === undefined || actual === null) return expected === null && op === 'eq';
  const a = typeof actual === 'string' ? actual.toLowerCase() : actual;
  const e = typeof expected === 'string' ? expected.toLowerCase() : expected;
  switch (op) {
    case 'eq':
      return a === e;
    case 'sw':
      return typeof a === 'string' && typeof e === 'string' && a.startsWith(e);
    case 'gt':
      return (a as string) > (e as string);
    case 'ge':
      return (a as string) >= (e as string);
    case 'lt':
      return (a as string) < (e as string);
    case 'le':
      return (a as string) <= (e as string);
    default:
      throw new SearchSyntaxError(`unsupported operator ${op}`);
  }
}

export function parseSearch(input: string): Predicate {
  const tokens = tokenize(input);
  let pos = 0;
  const peekWord = () => {
    const t = tokens[pos];
    return t && t.kind === 'word' ? t.value.toLowerCase() : undefined;
  };

  const parseOr = (): Predicate => {
    const parts = [parseAnd()];
    while (peekWord() === 'or') {
      pos++;
      parts.push(parseAnd());
    }
    return (u) => parts.some((p) => p(u));
  };
  const parseAnd = (): Predicate => {
    const parts = [parseTerm()];
    while (peekWord() === 'and') {
      pos++;
      parts.push(parseTerm());
    }
    return (u) => parts.every((p) => p(u));
  };
  const parseTerm = (): Predicate => {
    const t = tokens[pos++];
    if (!t) throw new SearchSyntaxError('unexpected end of expression');
    if (t.kind === 'lparen') {
      const inner = parseOr();
      if (tokens[pos++]?.kind !== 'rparen') throw new SearchSyntaxError('missing )');
      return inner;
    }
    if (t.kind !== 'word' || t.value.toLowerCase() === 'not')
      throw new SearchSyntaxError('expected an attribute');
    const path = t.value;
    const op = peekWord();
    pos++;
    if (op === 'pr') return (u) => attribute(u, path) !== undefined && attribute(u, path) !== null;
    if (!op || !['eq', 'sw', 'gt', 'ge', 'lt', 'le'].includes(op)) {
      throw new SearchSyntaxError(`unsupported operator ${op ?? '(none)'}`);
    }
    const v = tokens[pos++];
    if (!v || !('value' in v)) throw new SearchSyntaxError('expected a value');
    let expected: string | number | boolean | null;
    if (v.kind === 'string') expected = v.value;
    else if (v.value === 'true' || v.value === 'false') expected = v.value === 'true';
    else if (v.value === 'null') expected = null;
    else if (/^-?\d+(\.\d+)?$/.test(v.value)) expected = Number(v.value);
    else throw new SearchSyntaxError(`unquoted value ${v.value}`);
    return (u) => compare(attribute(u, path), op, expected);
  };

  const predicate = parseOr();
  if (pos !== tokens.length) throw new SearchSyntaxError('trailing input');
  return predicate;
}
