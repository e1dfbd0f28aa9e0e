/**
 * Vision One's `filter` language for `GET /v3.0/response/tasks` (CONTRACT §6): `field eq 'value'` joined by
 * `and`, `or`, `not` and parentheses, over the fields `id`, `status`, `action` and `account`. Strings are
 * single-quoted; a quote inside one is doubled (`'O''Brien'`), as in OData.
 *
 * The parser only builds a tree. Turning it into SQL is the store's job, with bound parameters, so no byte of
 * the filter ever becomes SQL text. Every mistake is a FilterSyntaxError naming the 1-based character where it
 * was found and what was expected there, so a playbook author can fix the filter without guessing.
 */

export const FILTER_FIELDS = ['id', 'status', 'action', 'account'] as const;
export type FilterField = (typeof FILTER_FIELDS)[number];

/** Vision One's task status words (Trend's list-filter docs); the engine produces only the first four. */
export const FILTER_STATUSES = [
  'queued',
  'running',
  'succeeded',
  'failed',
  'canceled',
  'pendingApproval',
  'rejected',
] as const;
export type FilterStatus = (typeof FILTER_STATUSES)[number];

/**
 * Vision One's response action names (Trend's list-filter docs). Playbooks often list every action they care
 * about in one `or` chain, so a known action this engine never runs matches nothing instead of failing.
 */
export const FILTER_ACTIONS = [
  'isolate',
  'isolateForMultiple',
  'restoreIsolate',
  'restoreIsolateForMultiple',
  'collectFile',
  'terminateProcess',
  'block',
  'restoreBlock',
  'quarantineMessage',
  'restoreMessage',
  'deleteMessage',
  'remoteShell',
  'investigationKit',
  'runCustomScript',
  'runCustomScriptForMultiple',
  'submitSandbox',
  'dumpProcessMemory',
  'disableAccount',
  'enableAccount',
  'forceSignOut',
  'resetPassword',
  'collectNetworkAnalysisPackage',
  'collectEvidence',
  'runOsquery',
  'runOsqueryForMultiple',
  'runYaraRules',
  'runYaraForMultiple',
  'isolateContainer',
  'restoreContainer',
  'terminateContainer',
  'malwareScanForMultiple',
] as const;

export type FilterNode =
  | { type: 'eq'; field: FilterField; value: string; position: number }
  | { type: 'and' | 'or'; operands: FilterNode[] }
  | { type: 'not'; operand: FilterNode };

/** Bounds that keep a hostile filter from costing more than a sane one: recursion, parameters, URL size. */
export const MAX_FILTER_LENGTH = 4096;
export const MAX_FILTER_DEPTH = 32;
export const MAX_FILTER_COMPARISONS = 200;

export class FilterSyntaxError extends Error {
  constructor(
    /** 1-based character position in the filter. */
    readonly position: number,
    readonly problem: string,
  ) {
    super(`Invalid filter at position ${position}: ${problem}`);
    this.name = 'FilterSyntaxError';
  }
}

type TokenKind = 'word' | 'string' | 'lparen' | 'rparen' | 'end';

interface Token {
  kind: TokenKind;
  /** The word itself, or the string's value with '' undone. */
  text: string;
  /** 1-based. */
  position: number;
}

const WORD_START = /[A-Za-z_]/;
const WORD_PART = /[A-Za-z0-9_]/;
const SPACE = /\s/;

export function tokenize(input: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < input.length) {
    const c = input[i];
    if (SPACE.test(c)) {
      i++;
    } else if (c === '(' || c === ')') {
      tokens.push({ kind: c === '(' ? 'lparen' : 'rparen', text: c, position: i + 1 });
      i++;
    } else if (c === "'") {
      const start = i;
      let value = '';
      i++;
      for (;;) {
        if (i >= input.length) {
          throw new FilterSyntaxError(start + 1, "unterminated string: expected a closing quote (').");
        }
        if (input[i] === "'") {
          if (input[i + 1] === "'") {
            value += "'";
            i += 2;
            continue;
          }
          i++;
          break;
        }
        if (input[i] === '\u0000') {
          // PostgreSQL text cannot hold U+0000: refused here rather than failing in the query.
          throw new FilterSyntaxError(i + 1, 'a string must not contain the NUL character.');
        }
        value += input[i++];
      }
      tokens.push({ kind: 'string', text: value, position: start + 1 });
    } else if (WORD_START.test(c)) {
      const start = i;
      while (i < input.length && WORD_PART.test(input[i])) i++;
      tokens.push({ kind: 'word', text: input.slice(start, i), position: start + 1 });
    } else {
      throw new FilterSyntaxError(
        i + 1,
        `unexpected character ${JSON.stringify(c)}: expected a field name, 'not', '(', ')', a quoted string or an operator.`,
      );
    }
  }
  tokens.push({ kind: 'end', text: '', position: input.length + 1 });
  return tokens;
}

/** Parses a filter; an empty or blank filter means "no filter" and gives null. */
export function parseFilter(input: string): FilterNode | null {
  if (input.length > MAX_FILTER_LENGTH) {
    throw new FilterSyntaxError(
      MAX_FILTER_LENGTH + 1,
      `the filter is longer than ${MAX_FILTER_LENGTH} characters.`,
    );
  }
  if (input.trim() === '') return null;
  return new Parser(tokenize(input)).parse();
}

const KEYWORDS = new Set(['and', 'or', 'not', 'eq']);
const FIELD_LIST = FILTER_FIELDS.join(', ');

/**
 * Recursive descent over
 *   filter  := or END
 *   or      := and ('or' and)*
 *   and     := unary ('and' unary)*
 *   unary   := 'not' unary | primary
 *   primary := '(' or ')' | FIELD 'eq' STRING
 * so `not` binds tighter than `and`, and `and` tighter than `or`, as in OData.
 */
class Parser {
  private i = 0;
  private depth = 0;
  private comparisons = 0;

  constructor(private readonly tokens: Token[]) {}

  parse(): FilterNode {
    const node = this.or();
    const t = this.peek();
    if (t.kind !== 'end') {
      throw this.error(
        t,
        t.kind === 'rparen' ? "expected 'and', 'or' or the end of the filter" : "expected 'and', 'or' or ')'",
      );
    }
    return node;
  }

  private or(): FilterNode {
    const operands = [this.and()];
    while (this.isWord('or')) {
      this.i++;
      operands.push(this.and());
    }
    return operands.length === 1 ? operands[0] : { type: 'or', operands };
  }

  private and(): FilterNode {
    const operands = [this.unary()];
    while (this.isWord('and')) {
      this.i++;
      operands.push(this.unary());
    }
    return operands.length === 1 ? operands[0] : { type: 'and', operands };
  }

  private unary(): FilterNode {
    const t = this.peek();
    if (this.isWord('not')) {
      this.i++;
      return this.nested(t, () => ({ type: 'not', operand: this.unary() }));
    }
    return this.primary();
  }

  private primary(): FilterNode {
    const t = this.next();
    if (t.kind === 'lparen') {
      return this.nested(t, () => {
        const inner = this.or();
        const close = this.next();
        if (close.kind !== 'rparen') throw this.error(close, "expected 'and', 'or' or ')' to close the '('");
        return inner;
      });
    }
    if (t.kind !== 'word' || KEYWORDS.has(t.text)) {
      throw this.error(t, `expected a field name (${FIELD_LIST}), 'not' or '('`);
    }
    if (!(FILTER_FIELDS as readonly string[]).includes(t.text)) {
      throw new FilterSyntaxError(t.position, `unknown field '${t.text}': expected one of ${FIELD_LIST}.`);
    }
    const field = t.text as FilterField;
    const op = this.next();
    if (op.kind !== 'word' || op.text !== 'eq') {
      throw op.kind === 'word'
        ? new FilterSyntaxError(
            op.position,
            `unknown operator '${op.text}' after '${field}': the only comparison is 'eq'.`,
          )
        : this.error(op, `expected 'eq' after '${field}'`);
    }
    const value = this.next();
    if (value.kind !== 'string') {
      throw this.error(value, `expected a quoted string after '${field} eq', like '${field} eq 'value''`);
    }
    checkValue(field, value);
    if (++this.comparisons > MAX_FILTER_COMPARISONS) {
      throw new FilterSyntaxError(
        t.position,
        `too many comparisons: at most ${MAX_FILTER_COMPARISONS} are allowed.`,
      );
    }
    return { type: 'eq', field, value: value.text, position: t.position };
  }

  private nested(at: Token, parse: () => FilterNode): FilterNode {
    if (++this.depth > MAX_FILTER_DEPTH) {
      throw new FilterSyntaxError(
        at.position,
        `nested too deeply: at most ${MAX_FILTER_DEPTH} levels of '(' and 'not' are allowed.`,
      );
    }
    const node = parse();
    this.depth--;
    return node;
  }

  private isWord(word: string): boolean {
    const t = this.peek();
    return t.kind === 'word' && t.text === word;
  }

  private peek(): Token {
    return this.tokens[this.i];
  }

  private next(): Token {
    const t = this.tokens[this.i];
    if (t.kind !== 'end') this.i++;
    return t;
  }

  private error(found: Token, expected: string): FilterSyntaxError {
    return new FilterSyntaxError(found.position, `${expected}, but ${describe(found)}.`);
  }
}

function describe(t: Token): string {
  switch (t.kind) {
    case 'end':
      return 'the filter ended';
    case 'string':
      return `found the string '${t.text.replace(/'/g, "''")}'`;
    default:
      return `found '${t.text}'`;
  }
}

function checkValue(field: FilterField, value: Token): void {
  const allowed: readonly string[] | null =
    field === 'status' ? FILTER_STATUSES : field === 'action' ? FILTER_ACTIONS : null;
  if (allowed && !allowed.includes(value.text)) {
    throw new FilterSyntaxError(
      value.position,
      `unknown ${field} '${value.text}': expected one of ${allowed.join(', ')}.`,
    );
  }
}
