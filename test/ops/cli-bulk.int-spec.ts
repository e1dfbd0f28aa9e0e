import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ProviderConfig } from '@app/config';
import { openLdapProvider, SlapdHandle, startSlapd } from '../harness/slapd';
import { startEngine, TestEngine } from '../harness/engine';
import { BuiltCli, builtCli, CliRun } from './built-cli';

const PASSWORD = 'Passw0rd-1';
const USERS = ['bulk1', 'bulk2', 'bulk3', 'bulk4', 'bulk5', 'bulk6', 'bulk7'];
/** Refused by the engine's identifier parser, whichever the directory. */
const MALFORMED = '<GUID=not-a-guid>';

/**
 * The CLI's bulk commands (issue #10), built and run as an operator runs them, against the real API's engine
 * and a worker on one database and queue prefix, with a real slapd read back after each batch. A mix of good
 * and bad accounts in every batch: what was refused is printed and counted, what was accepted is done.
 */
describe('CLI bulk commands from dist', () => {
  let slapd: SlapdHandle;
  let engine: TestEngine;
  let built: BuiltCli;

  beforeAll(async () => {
    slapd = await startSlapd({ users: USERS.map((uid) => ({ uid, password: PASSWORD })) });
    const providers: ProviderConfig[] = [
      openLdapProvider(slapd),
      openLdapProvider(slapd, { id: 'ldap-badpw', bindPassword: 'wrong-password' }),
    ];
    engine = await startEngine({ label: 'clibulk', workers: 1, providers });
    built = await builtCli(engine, providers);
  });
  afterAll(async () => {
    await engine?.stop();
    await slapd?.stop();
    built?.remove();
  });

  const cli = (args: string[], stdin?: string) => built.run(args, { stdin, timeoutMs: 120_000 });
  const json = (r: CliRun) => JSON.parse(r.stdout);
  const disabled = async (uid: string) => !(await slapd.canBind(slapd.userDn(uid), PASSWORD));

  let firstBatch: string;

  it('batch disable --wait from arguments and a file: the refusal printed, progress, the final counts, exit 1', async () => {
    const file = join(built.dir, 'leavers.txt');
    writeFileSync(file, ['# leavers', '', 'bulk2', `  ${MALFORMED}  `, '', 'bulk3', ''].join('\n'));
    const r = await cli([
      'batch',
      'disable',
      'bulk1',
      '--file',
      file,
      '--provider',
      'ldap',
      '--description',
      'leavers',
      '--wait',
    ]);
    expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 1, stderr: '' });
    const lines = r.stdout.split('\n');
    const head = /^Batch ([0-9a-f-]{36}): 3 of 4 account\(s\) accepted, 1 refused$/.exec(lines[0]);
    expect(head).not.toBeNull();
    firstBatch = head![1];
    expect(lines.slice(1, 5)).toEqual([
      '',
      'Refused:',
      expect.stringMatching(/^ {2}account\s+status\s+code\s+message$/),
      expect.stringMatching(/^ {2}<GUID=not-a-guid>\s+400\s+invalidAccount\s+not a GUID: not-a-guid$/),
    ]);
    // Not a terminal: one timestamped line per change of the counts, the last one with nothing in progress.
    const progress = lines.filter((l) => /^\d\d:\d\d:\d\d {2}batch /.test(l));
    expect(progress.length).toBeGreaterThanOrEqual(1);
    expect(progress.at(-1)).toMatch(
      /batch [0-9a-f]{8}…: 3\/3 done · inProgress 0 · successful 3 · partiallySuccessful 0 · unsuccessful 0 · refused 1$/,
    );
    expect(r.stdout).not.toContain('\r');
    expect(lines).toContain(
      `Batch ${firstBatch} done: inProgress 0 · successful 3 · partiallySuccessful 0 · unsuccessful 0 · refused 1`,
    );
    for (const uid of ['bulk1', 'bulk2', 'bulk3'])
      expect({ uid, disabled: await disabled(uid) }).toEqual({ uid, disabled: true });
    expect(await disabled('bulk4')).toBe(false);
  });

  it('batch show reads the batch back, as text and as JSON', async () => {
    const shown = await cli(['batch', 'show', firstBatch, '--json']);
    expect(shown.code).toBe(0);
    expect(json(shown)).toEqual({
      id: firstBatch,
      action: 'disableAccount',
      createdBy: 'cli',
      createdAt: expect.any(String),
      requested: 4,
      accepted: 3,
      rejected: 1,
      counts: { inProgress: 0, successful: 3, partiallySuccessful: 0, unsuccessful: 0 },
      done: true,
    });
    const text = await cli(['batch', 'show', firstBatch]);
    expect(text.code).toBe(0);
    expect(text.stdout).toContain(`Batch ${firstBatch}  disableAccount  done`);
    expect(text.stdout).toMatch(/accounts\s+4 requested, 3 accepted, 1 refused/);
    const listed = await cli(['task', 'list', '--batch', firstBatch, '--json']);
    expect(listed.code).toBe(0);
    expect(
      json(listed)
        .items.map((t: { account: string }) => t.account)
        .sort(),
    ).toEqual(['bulk1', 'bulk2', 'bulk3']);
    // --wait on a batch with a refusal: done at once, and not a clean result.
    const waited = await cli(['batch', 'show', firstBatch, '--wait']);
    expect(waited.code).toBe(1);
    expect(waited.stdout).toContain(`Batch ${firstBatch} done: inProgress 0 · successful 3`);
  });

  it('batch disable --file - --wait --json: stdin, the final JSON only on stdout, progress on stderr, exit 1 for a partial success', async () => {
    const r = await cli(
      ['batch', 'disable', '--file', '-', '--providers', 'ldap,ldap-badpw', '--wait', '--json'],
      'bulk4\n# and the next\nbulk5\n',
    );
    expect(r.code).toBe(1);
    const out = json(r);
    expect(out.items).toEqual([
      { account: 'bulk4', status: 202, taskId: expect.any(String) },
      { account: 'bulk5', status: 202, taskId: expect.any(String) },
    ]);
    expect(out.batch).toMatchObject({
      id: out.batchId,
      requested: 2,
      accepted: 2,
      rejected: 0,
      counts: { inProgress: 0, successful: 0, partiallySuccessful: 2, unsuccessful: 0 },
      done: true,
    });
    expect(r.stderr).toMatch(
      /batch [0-9a-f]{8}…: 2\/2 done · inProgress 0 · successful 0 · partiallySuccessful 2/,
    );
    expect(await disabled('bulk4')).toBe(true);
    expect(await disabled('bulk5')).toBe(true);
  });

  it('batch enable --wait --json: accounts never disabled are refused per item, the rest enabled', async () => {
    const r = await cli(['batch', 'enable', 'bulk1', 'bulk2', 'bulk6', MALFORMED, '--wait', '--json']);
    expect(r.code).toBe(1);
    const out = json(r);
    expect(out.items).toEqual([
      { account: 'bulk1', status: 202, taskId: expect.any(String) },
      { account: 'bulk2', status: 202, taskId: expect.any(String) },
      { account: 'bulk6', status: 409, error: expect.objectContaining({ code: 'noPriorDisableTask' }) },
      { account: MALFORMED, status: 400, error: expect.objectContaining({ code: 'invalidAccount' }) },
    ]);
    expect(out.batch).toMatchObject({
      action: 'enableAccount',
      accepted: 2,
      rejected: 2,
      counts: { inProgress: 0, successful: 2, partiallySuccessful: 0, unsuccessful: 0 },
      done: true,
    });
    expect(await disabled('bulk1')).toBe(false);
    expect(await disabled('bulk2')).toBe(false);
    expect(await disabled('bulk3')).toBe(true);
  });

  it('exits 0 when every account is accepted, and batch show --wait follows the batch to its end', async () => {
    const r = await cli(['batch', 'disable', 'bulk6', 'bulk7', '--provider', 'ldap']);
    expect(r.code).toBe(0);
    const id = /^Batch ([0-9a-f-]{36}): 2 of 2 account\(s\) accepted$/m.exec(r.stdout)?.[1];
    expect(id).toBeDefined();
    expect(r.stdout).toContain(`Follow it with: batch show ${id} --wait`);
    const waited = await cli(['batch', 'show', id!, '--wait', '--json']);
    expect(waited.code).toBe(0);
    expect(json(waited)).toMatchObject({ id, done: true, counts: { successful: 2, inProgress: 0 } });
    expect(await disabled('bulk6')).toBe(true);
    expect(await disabled('bulk7')).toBe(true);
  });

  it('refuses more than 10,000 accounts before creating anything, and other mistakes with exit 2', async () => {
    const file = join(built.dir, 'too-many.txt');
    writeFileSync(file, Array.from({ length: 10_001 }, (_, i) => `many${i}`).join('\n'));
    const r = await cli(['batch', 'disable', '--file', file, '--json']);
    expect(r.code).toBe(2);
    expect(json(r).error.message).toMatch(/^10,001 accounts: one request takes at most 10,000/);
    const listed = await cli(['task', 'list', '--account', 'many0', '--json']);
    expect(json(listed).items).toEqual([]);

    for (const args of [
      ['batch', 'disable'],
      ['batch', 'disable', '--file', join(built.dir, 'missing.txt')],
      ['batch', 'disable', 'bulk1', '--provider', 'nope'],
      ['batch', 'enable', 'bulk1', '--provider', 'ldap'],
      ['batch', 'show', 'a', 'b'],
    ]) {
      const bad = await cli(args);
      expect({ args, code: bad.code }).toEqual({ args, code: 2 });
      expect(bad.stderr).toMatch(/error: /);
    }
    const missing = await cli(['batch', 'show', '00000000-0000-4000-8000-000000000000', '--json']);
    expect(missing.code).toBe(3);
    expect(json(missing).error.code).toMatch(/NotFound$/);
  });
});
