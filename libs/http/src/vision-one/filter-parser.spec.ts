import { compileCondition } from '@app/persistence';
import {
  FilterNode,
  FilterSyntaxError,
  MAX_FILTER_COMPARISONS,
  MAX_FILTER_DEPTH,
  MAX_FILTER_LENGTH,
  parseFilter,
  tokenize,
} from './filter-parser';
import { toCondition } from './vision-one-query';

/** The tree without positions, written the way a reader thinks of it. */
function show(node: FilterNode | null): string {
  if (!node) return '∅';
  switch (node.type) {
    case 'eq':
      return `${node.field}=${JSON.stringify(node.value)}`;
    case 'not':
      return `not(${show(node.operand)})`;
    default:
      return `${node.type}(${node.operands.map(show).join(', ')})`;
  }
}

function syntaxError(filter: string): FilterSyntaxError {
  try {
    parseFilter(filter);
  } catch (e) {
    if (e instanceof FilterSyntaxError) return e;
    throw e;
  }
  throw new Error(`parsed: ${filter}`);
}

describe('Vision One filter parser', () => {
  it.each([
    ["status eq 'running'", 'status="running"'],
    ["  id   eq   'abc'  ", 'id="abc"'],
    ["status eq 'running' and action eq 'enableAccount'", 'and(status="running", action="enableAccount")'],
    ["account eq 'a' or account eq 'b' or account eq 'c'", 'or(account="a", account="b", account="c")'],
    // and binds tighter than or; not tighter than and.
    [
      "account eq 'a' or account eq 'b' and status eq 'failed'",
      'or(account="a", and(account="b", status="failed"))',
    ],
    [
      "(account eq 'a' or account eq 'b') and status eq 'failed'",
      'and(or(account="a", account="b"), status="failed")',
    ],
    ["not status eq 'failed' and account eq 'a'", 'and(not(status="failed"), account="a")'],
    ["not (status eq 'failed' or status eq 'queued')", 'not(or(status="failed", status="queued"))'],
    ["not not account eq 'a'", 'not(not(account="a"))'],
    ["((((account eq 'a'))))", 'account="a"'],
    ["account eq 'O''Brien'", 'account="O\'Brien"'],
    ["account eq ''''", 'account="\'"'],
    ["account eq ''", 'account=""'],
    ["account eq 'and or not eq ( )'", 'account="and or not eq ( )"'],
    [
      "account eq 'jdoe@corp.example'and status eq 'queued'",
      'and(account="jdoe@corp.example", status="queued")',
    ],
    ["account eq 'ünïcödé ✓'", 'account="ünïcödé ✓"'],
    ['', '∅'],
    ['   ', '∅'],
  ])('parses %s', (filter, tree) => {
    expect(show(parseFilter(filter))).toBe(tree);
  });

  it.each([
    // [filter, 1-based position, words the message must contain]
    ["account eq 'abc", 12, ['unterminated string']],
    ["status eq 'running' and", 24, ['expected a field name', 'the filter ended']],
    ["status eq 'running' and and", 25, ['expected a field name', "found 'and'"]],
    ["status eq 'running' or", 23, ['expected a field name', 'the filter ended']],
    ["colour eq 'red'", 1, ["unknown field 'colour'", 'id, status, action, account']],
    ["Status eq 'running'", 1, ["unknown field 'Status'"]],
    ["status ne 'running'", 8, ["unknown operator 'ne'", "'eq'"]],
    ["status EQ 'running'", 8, ["unknown operator 'EQ'"]],
    ["status = 'running'", 8, ['unexpected character "="']],
    ['status eq', 10, ["expected a quoted string after 'status eq'", 'the filter ended']],
    ['status eq running', 11, ['expected a quoted string', "found 'running'"]],
    ["status eq 'done'", 11, ["unknown status 'done'", 'queued, running, succeeded, failed']],
    ["action eq 'delete'", 11, ["unknown action 'delete'", 'disableAccount']],
    ["(status eq 'running'", 21, ["expected 'and', 'or' or ')'", 'the filter ended']],
    ["status eq 'running')", 20, ["expected 'and', 'or' or the end of the filter", "found ')'"]],
    ["status eq 'running' 'x'", 21, ["found the string 'x'"]],
    ["status eq 'running' account eq 'a'", 21, ["expected 'and', 'or' or ')'", "found 'account'"]],
    ['()', 2, ['expected a field name', "found ')'"]],
    ['not', 4, ['expected a field name', 'the filter ended']],
    ["'running' eq status", 1, ['expected a field name', "found the string 'running'"]],
    ["eq eq 'x'", 1, ['expected a field name', "found 'eq'"]],
    ["account eq 'a\u0000b'", 14, ['NUL']],
    ["account eq 'a' ; drop table tasks", 16, ['unexpected character ";"']],
    ["account eq 'a' && account eq 'b'", 16, ['unexpected character "&"']],
  ])('refuses %j at position %i, saying what was expected', (filter, position, words) => {
    const e = syntaxError(filter);
    expect(e.position).toBe(position);
    expect(e.message).toMatch(new RegExp(`^Invalid filter at position ${position}: `));
    for (const w of words) expect(e.message).toContain(w);
  });

  it('refuses nesting deeper than the limit, at the first parenthesis past it', () => {
    const depth = MAX_FILTER_DEPTH + 1;
    const filter = '('.repeat(depth) + "account eq 'a'" + ')'.repeat(depth);
    const e = syntaxError(filter);
    expect(e.position).toBe(depth);
    expect(e.message).toContain('nested too deeply');
    const ok = '('.repeat(MAX_FILTER_DEPTH) + "account eq 'a'" + ')'.repeat(MAX_FILTER_DEPTH);
    expect(show(parseFilter(ok))).toBe('account="a"');
  });

  it('refuses thousands of nested levels quickly, without exhausting the stack', () => {
    const e = syntaxError('('.repeat(MAX_FILTER_LENGTH - 20) + "account eq 'a'");
    expect(e.message).toContain('nested too deeply');
    expect(syntaxError('not '.repeat(1000) + "account eq 'a'").message).toContain('nested too deeply');
  });

  it('refuses filters longer than the limit and more comparisons than the limit', () => {
    expect(syntaxError(`account eq '${'x'.repeat(MAX_FILTER_LENGTH)}'`).message).toContain('longer than');
    const many = Array.from({ length: MAX_FILTER_COMPARISONS + 1 }, () => "id eq 'x'").join(' or ');
    expect(many.length).toBeLessThan(MAX_FILTER_LENGTH);
    expect(syntaxError(many).message).toContain('too many comparisons');
  });

  it('tokenizes with 1-based positions', () => {
    expect(tokenize("not (id eq 'a''b')").map((t) => [t.kind, t.text, t.position])).toEqual([
      ['word', 'not', 1],
      ['lparen', '(', 5],
      ['word', 'id', 6],
      ['word', 'eq', 9],
      ['string', "a'b", 12],
      ['rparen', ')', 18],
      ['end', '', 19],
    ]);
  });
});

describe('filter to SQL', () => {
  const sql = (filter: string) => {
    const params: Record<string, unknown> = {};
    const tree = parseFilter(filter);
    return { text: tree ? compileCondition(toCondition(tree), params) : '', params };
  };

  it('binds every value as a parameter and keeps user text out of the SQL', () => {
    const { text, params } = sql("account eq 'x'' OR 1=1 --' or (not action eq 'enableAccount')");
    expect(text).toBe('(t.created_by = :c0 OR (NOT t.action = :c1))');
    expect(params).toEqual({ c0: "x' OR 1=1 --", c1: 'enableAccount' });
  });

  it("maps Vision One's status words onto the engine's roll-up", () => {
    expect(sql("status eq 'succeeded'").text).toBe('t.status = :c0');
    expect(sql("status eq 'succeeded'").params).toEqual({ c0: 'successful' });
    expect(sql("status eq 'failed'").params).toEqual({ c0: 'partiallySuccessful', c1: 'unsuccessful' });
    expect(sql("status eq 'running'").text).toMatch(/^\(t\.status = :c0 AND EXISTS \(/);
    expect(sql("status eq 'queued'").text).toMatch(/^\(t\.status = :c0 AND \(NOT EXISTS \(/);
    expect(sql("status eq 'canceled'").text).toBe('FALSE');
  });

  it('matches nothing, rather than failing, for ids that are not UUIDs and actions this engine never runs', () => {
    expect(sql("id eq 'not-a-uuid'").text).toBe('FALSE');
    expect(sql("id eq '5B0E1A9E-8F3C-4F7E-9A51-0C2B7D1E4F60'").text).toBe('t.id = :c0');
    expect(sql("action eq 'isolate'").text).toBe('FALSE');
  });
});
