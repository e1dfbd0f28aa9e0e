import { spawn } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { AddressInfo, connect, Socket } from 'node:net';
import { join } from 'node:path';
import { createServer as createTlsServer } from 'node:tls';
import { guidFromBytes, sidFromBytes } from '@app/domain';
import { AdaxesController } from '../../libs/http/src/adaxes/adaxes.controller';
import { ensureTestCa } from '../emulators/entra-id';
import { SambaAdmin, UF, sambaProvider } from '../harness/samba';
import { openLdapProvider, startSlapd, SlapdHandle } from '../harness/slapd';
import { HttpResult, startEngine, TestEngine } from '../harness/engine';

/**
 * CONTRACT §7 as a SOAR engineer meets it: Adaxes' own examples (cURL and node.js run as written; C# and
 * Windows PowerShell sent as those clients put them on the wire), the examples of docs/integrations.md,
 * and tasks that really run against slapd and the run's Samba AD DC, read back from the directories.
 */

const ROOT = join(__dirname, '..', '..');
const FIXTURES = join(__dirname, '..', 'contracts', 'adaxes');
const fixture = (name: string) => readFileSync(join(FIXTURES, name), 'utf8');

/** What the examples of Adaxes' page (and so of our docs) say where a real call needs real values. */
const PLACEHOLDER = {
  base: 'https://host.example.com',
  hostname: "'hostname': 'host.example.com',",
  token: 'HxtdAPz73OFfae7....w7lQvxjJHIbVqgkCtPtLD',
  dn: 'CN=John Smith,CN=Users,DC=example,DC=com',
  operationId: '0b6e2c4e-8f0e-4a51-9d4c-2f1b7c3e5a90',
};
const SEED_RESPONSE = JSON.parse(fixture('enable-account.response.json.txt'));

const ENABLED = UF.NORMAL_ACCOUNT | UF.DONT_EXPIRE_PASSWORD;
const DISABLED = ENABLED | UF.ACCOUNTDISABLE;
const LOCKED = 'pwdAccountLockedTime';

/** An example of docs/integrations.md, found by the `<!-- adaxes-example: name -->` line above its block. */
function docsExample(name: string): string {
  const docs = readFileSync(join(ROOT, 'docs', 'integrations.md'), 'utf8');
  const m = new RegExp(`<!-- adaxes-example: ${name} -->\\s*\`\`\`\\w+\\n([\\s\\S]*?)\\n\`\`\``).exec(docs);
  if (!m) throw new Error(`docs/integrations.md has no example named ${name}`);
  return m[1];
}

function substitute(text: string, values: Partial<Record<keyof typeof PLACEHOLDER, string>>): string {
  let out = text;
  for (const [k, v] of Object.entries(values))
    out = out.split(PLACEHOLDER[k as keyof typeof PLACEHOLDER]).join(v);
  return out;
}

function run(
  command: string,
  args: string[],
  env: NodeJS.ProcessEnv = {},
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { env: { ...process.env, ...env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c) => (stdout += c));
    child.stderr.on('data', (c) => (stderr += c));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/**
 * HTTPS in front of the engine, with the test CA's certificate for 127.0.0.1: the examples keep their
 * `https://` and only the host changes. curl trusts the CA through CURL_CA_BUNDLE, node through
 * NODE_EXTRA_CA_CERTS, which `npm test` sets.
 */
async function startHttpsFront(engine: TestEngine) {
  const ca = ensureTestCa();
  const upstreamPort = Number(new URL(engine.baseUrl).port);
  const sockets = new Set<Socket>();
  const server = createTlsServer(
    { cert: readFileSync(ca.serverCertFile), key: readFileSync(ca.serverKeyFile) },
    (client) => {
      const upstream = connect(upstreamPort, '127.0.0.1');
      const end = () => {
        client.destroy();
        upstream.destroy();
      };
      for (const s of [client, upstream]) {
        sockets.add(s);
        s.on('error', end).on('close', () => {
          sockets.delete(s);
          end();
        });
      }
      client.pipe(upstream).pipe(client);
    },
  );
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    base: `https://127.0.0.1:${port}`,
    port,
    caFile: ca.caFile,
    curl: (example: string, values: Partial<Record<keyof typeof PLACEHOLDER, string>>) =>
      run('bash', ['-c', substitute(example, { base: `https://127.0.0.1:${port}`, ...values })], {
        CURL_CA_BUNDLE: ca.caFile,
      }),
    close: () =>
      new Promise<void>((resolve) => {
        sockets.forEach((s) => s.destroy());
        server.close(() => resolve());
      }),
  };
}

/** A request as an Adaxes client sends it: the key in Adm-Authorization, never in Authorization. */
async function adaxes(
  engine: TestEngine,
  method: string,
  path: string,
  init: { key?: string | null; body?: unknown; headers?: Record<string, string>; signal?: AbortSignal } = {},
): Promise<HttpResult> {
  const headers: Record<string, string> = { ...(init.headers ?? {}) };
  const key = init.key === undefined ? engine.adminKey : init.key;
  if (key) headers['adm-authorization'] = key;
  let body: string | undefined;
  if (init.body !== undefined) {
    headers['content-type'] ??= 'application/json';
    body = typeof init.body === 'string' ? init.body : JSON.stringify(init.body);
  }
  const res = await fetch(engine.baseUrl + path, { method, headers, body, signal: init.signal });
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = text ? JSON.parse(text) : null;
  } catch {
    /* not JSON: keep the text */
  }
  return { status: res.status, headers: res.headers, body: parsed };
}

const DISABLE = '/restApi/api/directoryObjects/account/disable';
const ENABLE = '/restApi/api/directoryObjects/account/enable';
const operation = (id: string) => `/restApi/api/runningOperations/${id}`;

/** Polls runningOperations as a playbook would, until the operation completes. */
async function pollUntilCompleted(engine: TestEngine, operationId: string, timeoutMs = 60_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const res = await adaxes(engine, 'GET', operation(operationId));
    if (res.status !== 200) throw new Error(`runningOperations: ${res.status} ${JSON.stringify(res.body)}`);
    if (res.body.completed) return res.body.operationResult;
    if (Date.now() > deadline) throw new Error(`operation ${operationId} still running`);
    await new Promise((r) => setTimeout(r, 100)); // polling interval, not a stand-in for synchronisation
  }
}

/** A POST with the exact bytes and headers a .NET Framework client sends, `Expect: 100-continue` included. */
function dotNetPost(url: string, headers: Record<string, string>, body: Buffer): Promise<HttpResult> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      url,
      {
        method: 'POST',
        headers: { ...headers, 'Content-Length': String(body.length), Expect: '100-continue' },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          resolve({ status: res.statusCode ?? 0, headers: new Headers(), body: JSON.parse(text) });
        });
      },
    );
    req.on('error', reject);
    req.on('continue', () => req.end(body));
    req.flushHeaders();
  });
}

describe('Adaxes-style API (CONTRACT §7) against slapd and Active Directory', () => {
  let slapd: SlapdHandle;
  let ad: SambaAdmin;
  let engine: TestEngine;
  let front: Awaited<ReturnType<typeof startHttpsFront>>;

  beforeAll(async () => {
    slapd = await startSlapd();
    ad = await SambaAdmin.connect();
    engine = await startEngine({
      label: 'adaxes',
      workers: 1,
      providers: [openLdapProvider(slapd), sambaProvider()],
    });
    front = await startHttpsFront(engine);
  });
  afterAll(async () => {
    await front?.close();
    await engine?.stop();
    await Promise.allSettled([slapd?.stop(), ad?.close()]);
  });

  /** An enabled AD user; each test has its own, named like Adaxes' example. */
  async function adUser(name = 'John Smith') {
    const { dn } = await ad.createUser({
      sam: SambaAdmin.uniqueName('adaxes'),
      cn: `${name} ${randomBytes(3).toString('hex')}`,
      uac: ENABLED,
    });
    const ids = await ad.readIds(dn);
    return {
      dn,
      guid: guidFromBytes(ids.guidBytes),
      sid: sidFromBytes(ids.sidBytes),
      uac: () => ad.readUac(dn),
    };
  }

  const disable = (directoryObject: string) =>
    adaxes(engine, 'POST', DISABLE, { body: { directoryObject }, headers: { 'adm-wait': '60' } });
  const enable = (directoryObject: string) =>
    adaxes(engine, 'POST', ENABLE, { body: { directoryObject }, headers: { 'adm-wait': '60' } });

  /**
   * What a successful task on AD answers: the seed's response, with a message for each directory the task
   * covered. A Disable covers every provider; its Enable only those where the Disable found the account.
   */
  const adSuccess = (dn: string, outcome: 'disabled' | 'enabled') => ({
    ...SEED_RESPONSE,
    innerMessages: [
      {
        source: 'corp-ad',
        text: `corp-ad (Active Directory): succeeded (${outcome}) on ${dn}`,
        messageType: 2,
        innerMessages: [],
      },
      ...(outcome === 'disabled'
        ? [{ source: 'ldap', text: 'ldap (OpenLDAP): skipped (notFound)', messageType: 2, innerMessages: [] }]
        : []),
    ],
    actualObjectDN: dn,
  });

  describe("Adaxes' own examples, with only the host, the token and the DN changed", () => {
    it('cURL, from docs/integrations.md: disable (waiting, or polling runningOperations), then enable', async () => {
      const user = await adUser();
      const key = await engine.createKey('soar-curl', ['tasks:write', 'tasks:read']);

      const created = await front.curl(docsExample('curl-disable-wait'), { token: key, dn: user.dn });
      expect(created).toMatchObject({ code: 0 });
      let disabled = JSON.parse(created.stdout);
      // Adm-Wait: 5 is the example's; a slow machine may outlast it, and then the docs' poll is the way on.
      for (const deadline = Date.now() + 60_000; disabled.operationId;) {
        const polled = await front.curl(docsExample('curl-poll'), {
          token: key,
          operationId: disabled.operationId,
        });
        const status = JSON.parse(polled.stdout);
        if (status.completed) disabled = status.operationResult;
        else if (Date.now() > deadline) throw new Error('the disable never completed');
        else await new Promise((r) => setTimeout(r, 100)); // polling interval, not a stand-in for synchronisation
      }
      expect(disabled).toEqual(adSuccess(user.dn, 'disabled'));
      expect(await user.uac()).toBe(DISABLED);

      const enabled = await front.curl(docsExample('curl-enable'), { token: key, dn: user.dn });
      expect(enabled.code).toBe(0);
      const result = JSON.parse(enabled.stdout);
      expect(Object.keys(result)).toEqual(Object.keys(SEED_RESPONSE));
      expect(result).toEqual(adSuccess(user.dn, 'enabled'));
      expect(await user.uac()).toBe(ENABLED);

      // The docs' command is the seed's, character for character.
      expect(docsExample('curl-enable')).toBe(fixture('enable-account.curl.sh').trimEnd());
      const tasks = (await engine.request('GET', `/api/v1/tasks?account=${encodeURIComponent(user.dn)}`))
        .body;
      expect(tasks.items.map((t: { action: string; createdBy: string }) => [t.action, t.createdBy])).toEqual([
        ['enableAccount', 'soar-curl'],
        ['disableAccount', 'soar-curl'],
      ]);
    });

    it("node.js: the page's https.request example, /restapi/ in lower case and a chunked body", async () => {
      const user = await adUser();
      expect((await disable(user.sid)).body.resultType).toBe(0);
      const script = substitute(fixture('enable-account.node.js.txt'), {
        hostname: `'hostname': '127.0.0.1', 'port': ${front.port},`,
        token: engine.adminKey,
        dn: user.dn,
      });
      const out = await run(process.execPath, ['-e', script], { NODE_EXTRA_CA_CERTS: front.caFile });
      expect(out.stderr).toBe('');
      expect(JSON.parse(out.stdout)).toEqual(adSuccess(user.dn, 'enabled'));
      expect(await user.uac()).toBe(ENABLED);
    });

    it("C# (.NET Framework HttpClient): the page's single-quoted JSON, charset=utf-8, Expect: 100-continue", async () => {
      const user = await adUser();
      expect((await disable(user.guid)).body.resultType).toBe(0);
      // The body is the C# verbatim string of the example, as HttpClient sends it.
      const verbatim = /@"([\s\S]*?)";/.exec(fixture('enable-account.cs'));
      const json = substitute(verbatim![1].replace(/""/g, '"'), { dn: user.dn });
      expect(json).toContain(`'directoryObject': '${user.dn}'`);
      const res = await dotNetPost(
        `${engine.baseUrl}/restApi/api/directoryObjects/account/enable`,
        { 'Adm-Authorization': engine.adminKey, 'Content-Type': 'application/json; charset=utf-8' },
        Buffer.from(json, 'utf8'),
      );
      expect(res).toMatchObject({ status: 200, body: adSuccess(user.dn, 'enabled') });
      expect(await user.uac()).toBe(ENABLED);
    });

    it('Windows PowerShell 5.1 (Invoke-RestMethod): ConvertTo-Json output sent as ISO-8859-1, no charset', async () => {
      const user = await adUser('Jürgen Groß');
      const ps1 = fixture('enable-account.ps1');
      expect(ps1).toContain('-ContentType "application/json"');
      // ConvertTo-Json of a one-key hashtable in 5.1: CRLF, four-space indent, two spaces after the colon,
      // and <, >, &, ' written as \u003c, \u003e, \u0026, \u0027.
      const convertToJson = (value: string) =>
        `{\r\n    "directoryObject":  ${JSON.stringify(value).replace(
          /[<>&']/g,
          (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
        )}\r\n}`;
      const invokeRestMethod = (endpoint: string, directoryObject: string) =>
        dotNetPost(
          `${engine.baseUrl}/restApi${endpoint}`,
          {
            'Adm-Authorization': engine.adminKey,
            'Content-Type': 'application/json',
            'User-Agent': 'Mozilla/5.0 (Windows NT; Windows NT 10.0; en-US) WindowsPowerShell/5.1.19041.4648',
          },
          Buffer.from(convertToJson(directoryObject), 'latin1'),
        );

      const disabled = await invokeRestMethod('/api/directoryObjects/account/disable', user.dn);
      expect(disabled).toMatchObject({ status: 200, body: adSuccess(user.dn, 'disabled') });
      expect(await user.uac()).toBe(DISABLED);

      const enabled = await invokeRestMethod('/api/directoryObjects/account/enable', `<GUID=${user.guid}>`);
      expect(enabled).toMatchObject({ status: 200, body: adSuccess(user.dn, 'enabled') });
      expect(await user.uac()).toBe(ENABLED);
    });
  });

  describe('directoryObject as a DN, a GUID or a SID, with the directories read back', () => {
    it('AD: disables by SID, re-enables by GUID; <SID=…> and {GUID} too', async () => {
      const user = await adUser();
      expect((await disable(user.sid)).body).toEqual(adSuccess(user.dn, 'disabled'));
      expect(await user.uac()).toBe(DISABLED);
      expect((await enable(user.guid)).body).toEqual(adSuccess(user.dn, 'enabled'));
      expect(await user.uac()).toBe(ENABLED);

      expect((await disable(`<SID=${user.sid}>`)).body).toEqual(adSuccess(user.dn, 'disabled'));
      expect(await user.uac()).toBe(DISABLED);
      expect((await enable(`{${user.guid.toUpperCase()}}`)).body).toEqual(adSuccess(user.dn, 'enabled'));
      expect(await user.uac()).toBe(ENABLED);
    });

    it('OpenLDAP: disables by DN, re-enables by entryUUID; actualObjectDN is the OpenLDAP DN', async () => {
      const dn = await slapd.addUser({
        uid: `adaxes-${randomBytes(3).toString('hex')}`,
        password: 'Secret-1',
      });
      const [uuid] = (await slapd.readAttributes(dn, ['entryUUID'])).entryUUID;

      const disabled = await disable(dn);
      expect(disabled.body).toEqual({
        resultType: 0,
        innerMessages: [
          {
            source: 'corp-ad',
            text: 'corp-ad (Active Directory): skipped (notFound)',
            messageType: 2,
            innerMessages: [],
          },
          {
            source: 'ldap',
            text: `ldap (OpenLDAP): succeeded (disabled) on ${dn}`,
            messageType: 2,
            innerMessages: [],
          },
        ],
        exception: null,
        actualObjectDN: dn,
        extraInfo: {},
      });
      expect((await slapd.readAttributes(dn, [LOCKED]))[LOCKED]).toEqual(['000001010000Z']);

      const enabled = await enable(uuid);
      expect(enabled.body).toMatchObject({ resultType: 0, exception: null, actualObjectDN: dn });
      expect(enabled.body.innerMessages).toEqual([
        expect.objectContaining({ source: 'ldap', text: `ldap (OpenLDAP): succeeded (enabled) on ${dn}` }),
      ]);
      expect((await slapd.readAttributes(dn, [LOCKED]))[LOCKED]).toBeUndefined();
    });

    it('reports a Disable of an account no directory has as resultType 1, accountNotFound', async () => {
      const res = await disable('S-1-5-21-1111111111-2222222222-3333333333-424242');
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({
        resultType: 1,
        exception: { code: 'accountNotFound', message: expect.stringContaining('ended unsuccessful') },
        actualObjectDN: null,
        extraInfo: {},
      });
      expect(res.body.innerMessages.map((m: { text: string }) => m.text)).toEqual([
        'corp-ad (Active Directory): skipped (notFound)',
        'ldap (OpenLDAP): skipped (notFound)',
      ]);
    });
  });

  describe('the node.js playbook of docs/integrations.md, with /restapi/ in lower case', () => {
    const playbook = async (dn: string, waitSeconds?: number) => {
      let script = substitute(docsExample('node-playbook'), {
        base: front.base,
        token: engine.adminKey,
        dn,
      });
      if (waitSeconds !== undefined) {
        expect(script).toContain('const waitSeconds = 30;');
        script = script.replace('const waitSeconds = 30;', `const waitSeconds = ${waitSeconds};`);
      }
      return run(process.execPath, ['-e', script], { NODE_EXTRA_CA_CERTS: front.caFile });
    };

    it('as written: the task ends within Adm-Wait and each directory is reported', async () => {
      const user = await adUser();
      const out = await playbook(user.dn);
      expect(out).toEqual({
        code: 0,
        stdout:
          'disabled\n' +
          `corp-ad: corp-ad (Active Directory): succeeded (disabled) on ${user.dn}\n` +
          'ldap: ldap (OpenLDAP): skipped (notFound)\n',
        stderr: '',
      });
      expect(await user.uac()).toBe(DISABLED);
    });

    it('with waitSeconds 0: answered 202, it polls runningOperations to the same report', async () => {
      const user = await adUser();
      const out = await playbook(user.dn, 0);
      expect(out.stdout).toMatch(/^still running, polling operation [0-9a-f-]{36}\ndisabled\n/);
      expect(out.stdout).toContain(
        `corp-ad: corp-ad (Active Directory): succeeded (disabled) on ${user.dn}\n`,
      );
      expect(out).toMatchObject({ code: 0, stderr: '' });
      expect(await user.uac()).toBe(DISABLED);
    });

    it('exits 2 with the error code when the rules refuse the request', async () => {
      const out = await run(
        process.execPath,
        [
          '-e',
          substitute(docsExample('node-playbook'), { base: front.base, token: engine.adminKey, dn: 'jdoe' }),
        ],
        { NODE_EXTRA_CA_CERTS: front.caFile },
      );
      expect(out).toMatchObject({ code: 2, stderr: expect.stringMatching(/^400 invalidDirectoryObject: /) });
    });
  });
});

describe('Adaxes-style API (CONTRACT §7) when one directory fails', () => {
  let slapd: SlapdHandle;
  let engine: TestEngine;

  beforeAll(async () => {
    slapd = await startSlapd();
    const ldap = openLdapProvider(slapd);
    engine = await startEngine({
      label: 'adaxespart',
      workers: 1,
      providers: [
        ldap,
        // Nothing listens on port 1: every attempt fails as a network error.
        { ...ldap, id: 'ldap-down', url: 'ldap://127.0.0.1:1', maxAttempts: 2, timeoutMs: 2000 },
      ],
    });
  });
  afterAll(async () => {
    await engine?.stop();
    await slapd?.stop();
  });

  const user = () => slapd.addUser({ uid: `part-${randomBytes(3).toString('hex')}`, password: 'Secret-1' });

  it('answers resultType 1 with the reason and one inner message per directory, keeping the one that worked', async () => {
    const dn = await user();
    const res = await adaxes(engine, 'POST', DISABLE, {
      body: { directoryObject: dn },
      headers: { 'adm-wait': '90' },
    });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({
      resultType: 1,
      innerMessages: [
        {
          source: 'ldap',
          text: `ldap (OpenLDAP): succeeded (disabled) on ${dn}`,
          messageType: 2,
          innerMessages: [],
        },
        {
          source: 'ldap-down',
          text: expect.stringMatching(/^ldap-down \(OpenLDAP\): failed: directoryUnreachable: /),
          messageType: 0,
          innerMessages: [],
        },
      ],
      exception: {
        code: 'partiallySuccessful',
        message: expect.stringMatching(
          new RegExp(
            `^Disable task [0-9a-f-]{36} for ${dn} ended partiallySuccessful \\(ldap-down: directoryUnreachable\\)\\.$`,
          ),
        ),
      },
      actualObjectDN: dn,
      extraInfo: {},
    });
    expect((await slapd.readAttributes(dn, [LOCKED]))[LOCKED]).toEqual(['000001010000Z']);
  });

  it('answers 202 at Adm-Wait: 0; runningOperations reports it until it ends, then the full result', async () => {
    const dn = await user();
    const accepted = await adaxes(engine, 'POST', DISABLE, {
      body: { directoryObject: dn },
      headers: { 'adm-wait': '0' },
    });
    expect(accepted.status).toBe(202);
    expect(accepted.body).toEqual({
      operationId: expect.any(String),
      completed: false,
      operationResult: null,
    });
    const id = accepted.body.operationId;
    expect(accepted.headers.get('location')).toBe(`/restApi/api/runningOperations/${id}`);
    // The operation id is the task id of the native API.
    expect((await engine.request('GET', `/api/v1/tasks/${id}`)).body).toMatchObject({
      account: dn,
      createdBy: 'test-admin',
    });

    const result = await pollUntilCompleted(engine, id);
    expect(result).toMatchObject({
      resultType: 1,
      exception: { code: 'partiallySuccessful' },
      actualObjectDN: dn,
    });
    expect(
      result.innerMessages.map((m: { source: string; messageType: number }) => [m.source, m.messageType]),
    ).toEqual([
      ['ldap', 2],
      ['ldap-down', 0],
    ]);
    expect((await adaxes(engine, 'GET', operation(id))).body).toEqual({
      completed: true,
      operationResult: result,
    });

    // Only the directory the Disable changed is re-enabled, so the Enable is a plain success.
    const enabled = await adaxes(engine, 'POST', ENABLE, {
      body: { directoryObject: dn },
      headers: { 'adm-wait': '0' },
    });
    expect(enabled.status).toBe(202);
    expect(await pollUntilCompleted(engine, enabled.body.operationId)).toEqual({
      resultType: 0,
      innerMessages: [
        {
          source: 'ldap',
          text: `ldap (OpenLDAP): succeeded (enabled) on ${dn}`,
          messageType: 2,
          innerMessages: [],
        },
      ],
      exception: null,
      actualObjectDN: dn,
      extraInfo: {},
    });
    expect((await slapd.readAttributes(dn, [LOCKED]))[LOCKED]).toBeUndefined();
  });
});

describe('Adaxes-style API (CONTRACT §7): the door itself, with no worker running', () => {
  let engine: TestEngine;
  let front: Awaited<ReturnType<typeof startHttpsFront>>;
  const DN = 'uid=nobody,ou=people,dc=example,dc=org';

  beforeAll(async () => {
    engine = await startEngine({
      label: 'adaxesdoor',
      workers: 0,
      providers: [
        {
          id: 'ldap',
          kind: 'openLdap',
          url: 'ldap://127.0.0.1:1',
          bindDN: 'cn=a',
          bindPassword: 'x',
          baseDN: 'dc=x',
        },
      ],
    });
    front = await startHttpsFront(engine);
  });
  afterAll(async () => {
    await front?.close();
    await engine?.stop();
  });

  const taskCount = async () => (await engine.request('GET', '/api/v1/tasks?limit=200')).body.items.length;
  const controller = () => engine.api.get(AdaxesController);
  // How many requests are waiting for their task: the controller's own record, read to see a wait end.
  const waiting = () => (controller() as unknown as { waiting: Set<unknown> }).waiting.size;
  const waitUntil = async (what: string, check: () => boolean, timeoutMs = 10_000) => {
    for (const deadline = Date.now() + timeoutMs; !check();) {
      if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
      await new Promise((r) => setTimeout(r, 20)); // polling interval, not a stand-in for synchronisation
    }
  };

  describe('authentication (CONTRACT §3)', () => {
    it('refuses no key, an unknown key, and a valid key sent as Bearer with 401 in the error envelope', async () => {
      const body = { directoryObject: DN };
      const none = await adaxes(engine, 'POST', DISABLE, { key: null, body });
      expect(none).toMatchObject({
        status: 401,
        body: { error: { code: 'unauthorized', message: expect.stringContaining('Adm-Authorization') } },
      });
      expect((await adaxes(engine, 'POST', DISABLE, { key: 'are_not-a-key', body })).status).toBe(401);
      const bearer = await adaxes(engine, 'POST', DISABLE, {
        key: null,
        body,
        headers: { authorization: `Bearer ${engine.adminKey}` },
      });
      expect(bearer.status).toBe(401);
      expect((await adaxes(engine, 'GET', operation(randomUUID()), { key: null })).status).toBe(401);
    });

    it('refuses a key without tasks:write (403) and polling without tasks:read (403); records the creator', async () => {
      const reader = await engine.createKey('adaxes-reader', ['tasks:read']);
      const writer = await engine.createKey('adaxes-writer', ['tasks:write']);
      const before = await taskCount();
      const refused = await adaxes(engine, 'POST', DISABLE, { key: reader, body: { directoryObject: DN } });
      expect(refused).toMatchObject({ status: 403, body: { error: { code: 'forbidden' } } });
      expect(await taskCount()).toBe(before);

      // Adm-Authorization is the key even when an Authorization header names another.
      const created = await adaxes(engine, 'POST', DISABLE, {
        key: writer,
        body: { directoryObject: DN },
        headers: { 'adm-wait': '0', authorization: `Bearer ${reader}` },
      });
      expect(created.status).toBe(202);
      const id = created.body.operationId;
      expect((await engine.request('GET', `/api/v1/tasks/${id}`)).body.createdBy).toBe('adaxes-writer');
      expect((await adaxes(engine, 'GET', operation(id), { key: writer })).status).toBe(403);
      expect((await adaxes(engine, 'GET', operation(id), { key: reader })).body).toEqual({
        completed: false,
        operationResult: null,
      });
    });
  });

  describe('bad requests: a 4xx in the error envelope, and nothing created', () => {
    const json = { 'content-type': 'application/json' };
    it.each([
      ['not JSON', 'directoryObject=x', json, 400, 'invalidBody'],
      ['truncated JSON', '{"directoryObject": "S-1-5-21-1-2-3-4"', json, 400, 'invalidBody'],
      ['an array', [{ directoryObject: DN }], json, 400, 'invalidBody'],
      ['an unknown field', { directoryObject: DN, properties: [] }, json, 400, 'invalidBody'],
      ['no directoryObject', {}, json, 400, 'invalidDirectoryObject'],
      ['a number', { directoryObject: 1627 }, json, 400, 'invalidDirectoryObject'],
      ['a bare name', { directoryObject: 'jdoe' }, json, 400, 'invalidDirectoryObject'],
      ['a UPN', { directoryObject: 'jdoe@corp.example' }, json, 400, 'invalidDirectoryObject'],
      ['a down-level name', { directoryObject: 'CORP\\jdoe' }, json, 400, 'invalidDirectoryObject'],
      [
        'text/plain',
        JSON.stringify({ directoryObject: DN }),
        { 'content-type': 'text/plain' },
        400,
        'invalidBody',
      ],
      ['an empty body', '', json, 400, 'invalidBody'],
      [
        'a body over 64 KiB',
        JSON.stringify({ directoryObject: 'x'.repeat(70_000) }),
        json,
        413,
        'payloadTooLarge',
      ],
      [
        'an unknown charset',
        '{}',
        { 'content-type': 'application/json; charset=ebcdic-x' },
        415,
        'unsupportedMediaType',
      ],
      ['a bad Adm-Wait', { directoryObject: DN }, { ...json, 'adm-wait': 'soon' }, 400, 'invalidAdmWait'],
    ])('%s', async (_what, body, headers, status, code) => {
      const before = await taskCount();
      for (const path of [DISABLE, ENABLE]) {
        const res = await adaxes(engine, 'POST', path, { body, headers });
        expect(res).toMatchObject({ status, body: { error: { code, message: expect.any(String) } } });
      }
      expect(await taskCount()).toBe(before);
    });
  });

  describe('rule refusals are 409 in the error envelope, as in the native API', () => {
    it('noPriorDisableTask, then taskInProgress naming the running Disable; nothing created', async () => {
      const dn = `uid=refused-${randomBytes(3).toString('hex')},ou=people,dc=example,dc=org`;
      const before = await taskCount();
      const none = await adaxes(engine, 'POST', ENABLE, { body: { directoryObject: dn } });
      expect(none).toMatchObject({ status: 409, body: { error: { code: 'noPriorDisableTask' } } });
      expect(await taskCount()).toBe(before);

      const running = await adaxes(engine, 'POST', DISABLE, {
        body: { directoryObject: dn },
        headers: { 'adm-wait': '0' },
      });
      const busy = await adaxes(engine, 'POST', ENABLE, { body: { directoryObject: dn } });
      expect(busy).toMatchObject({
        status: 409,
        body: { error: { code: 'taskInProgress', taskId: running.body.operationId } },
      });
      expect(await taskCount()).toBe(before + 1);
    });
  });

  describe('Adm-Wait and runningOperations', () => {
    it('answers 202 once Adm-Wait has passed, and runningOperations says not completed', async () => {
      const started = Date.now();
      const res = await adaxes(engine, 'POST', DISABLE, {
        body: { directoryObject: DN },
        headers: { 'adm-wait': '1' },
      });
      expect(Date.now() - started).toBeGreaterThanOrEqual(1000);
      expect(res.status).toBe(202);
      const polled = await adaxes(engine, 'GET', operation(res.body.operationId));
      expect(polled).toMatchObject({ status: 200, body: { completed: false, operationResult: null } });
      // Case-insensitive, as Adaxes' node.js example relies on.
      const lower = await adaxes(engine, 'GET', `/restapi/api/runningoperations/${res.body.operationId}`);
      expect(lower.body).toEqual(polled.body);
    });

    it('answers 404 operationNotFound for an unknown or malformed operation id', async () => {
      for (const id of [randomUUID(), 'not-an-id']) {
        const res = await adaxes(engine, 'GET', operation(id));
        expect(res).toMatchObject({ status: 404, body: { error: { code: 'operationNotFound' } } });
      }
    });

    it("runs the docs' Adm-Wait and runningOperations cURL examples", async () => {
      const created = await front.curl(docsExample('curl-disable-wait'), { token: engine.adminKey, dn: DN });
      const accepted = JSON.parse(created.stdout);
      expect(accepted).toEqual({ operationId: expect.any(String), completed: false, operationResult: null });
      const polled = await front.curl(docsExample('curl-poll'), {
        token: engine.adminKey,
        operationId: accepted.operationId,
      });
      expect(JSON.parse(polled.stdout)).toEqual({ completed: false, operationResult: null });
    });

    it('stops waiting when the client disconnects', async () => {
      const client = new AbortController();
      const pending = adaxes(engine, 'POST', DISABLE, {
        body: { directoryObject: DN },
        headers: { 'adm-wait': '120' },
        signal: client.signal,
      }).catch((e: Error) => e);
      await waitUntil('the request waits', () => waiting() === 1);
      client.abort();
      expect(await pending).toMatchObject({ name: 'AbortError' });
      await waitUntil('the wait has ended', () => waiting() === 0, 3000);
    });

    it('answers its waiting requests 202 when the API shuts down', async () => {
      const pending = adaxes(engine, 'POST', DISABLE, {
        body: { directoryObject: DN },
        headers: { 'adm-wait': '120' },
      });
      await waitUntil('the request waits', () => waiting() === 1);
      controller().beforeApplicationShutdown();
      expect(await pending).toMatchObject({ status: 202, body: { completed: false, operationResult: null } });
      expect(waiting()).toBe(0);
    });
  });

  it('is described in the OpenAPI document: routes, headers, body and responses', async () => {
    const doc = (await engine.request('GET', '/api/openapi.json', { key: null })).body;
    for (const path of [DISABLE, ENABLE]) {
      const op = doc.paths[path].post;
      expect(op.parameters.map((p: { name: string; in: string }) => `${p.in}:${p.name}`)).toEqual(
        expect.arrayContaining(['header:Adm-Authorization', 'header:Adm-Wait']),
      );
      expect(op.requestBody.content['application/json'].schema.$ref).toBe(
        '#/components/schemas/DirectoryObjectBody',
      );
      expect(op.responses['200'].content['application/json'].schema.$ref).toBe(
        '#/components/schemas/OperationResultDto',
      );
      expect(op.responses['202'].content['application/json'].schema.$ref).toBe(
        '#/components/schemas/OperationAcceptedDto',
      );
      expect(Object.keys(op.responses)).toEqual(expect.arrayContaining(['400', '401', '403']));
    }
    expect(doc.paths[ENABLE].post.responses['409']).toBeDefined();
    const poll = doc.paths['/restApi/api/runningOperations/{operationId}'].get;
    expect(poll.responses['200'].content['application/json'].schema.$ref).toBe(
      '#/components/schemas/OperationStatusDto',
    );
    expect(Object.keys(doc.components.schemas.OperationResultDto.properties)).toEqual(
      Object.keys(SEED_RESPONSE),
    );
  });
});
