import { MAX_BULK_ACCOUNTS } from '@app/engine';
import { checkBulkSize, parseAccountList } from './account-list';

describe('parseAccountList', () => {
  it('takes one account per line, skipping blank lines and # comments, trimming spaces and CRs', () => {
    const text = [
      '\uFEFF# leavers, 2026-11-23',
      'jdoe@corp.example',
      '',
      '   ',
      '  CORP\\asmith  ',
      '\t# indented comment',
      'cn=Bob \\#1,ou=People,dc=corp,dc=example\r',
      'uid=x#y',
      '',
    ].join('\n');
    expect(parseAccountList(text)).toEqual([
      'jdoe@corp.example',
      'CORP\\asmith',
      'cn=Bob \\#1,ou=People,dc=corp,dc=example',
      'uid=x#y',
    ]);
  });

  it('keeps duplicates and odd values as written: the engine answers for each item', () => {
    expect(parseAccountList('a\na\n<not an account>')).toEqual(['a', 'a', '<not an account>']);
  });

  it('finds nothing in an empty or comment-only file', () => {
    expect(parseAccountList('')).toEqual([]);
    expect(parseAccountList('# nothing\n\n')).toEqual([]);
  });
});

describe('checkBulkSize', () => {
  it('accepts 1 to 10,000 accounts and names the limit and a way to split above it', () => {
    expect(checkBulkSize(1)).toBeNull();
    expect(checkBulkSize(MAX_BULK_ACCOUNTS)).toBeNull();
    expect(checkBulkSize(0)).toMatch(/no accounts given/);
    expect(checkBulkSize(10_001)).toBe(
      '10,001 accounts: one request takes at most 10,000. Split the list ' +
        '(e.g. split -l 10000 accounts.txt part-) and run one command per part',
    );
  });
});
