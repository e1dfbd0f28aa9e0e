import { randomBytes } from 'node:crypto';
import { createServer, Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ApiKeyService } from '@app/auth';
import { ProviderConfig } from '@app/config';
import { TaskView } from '@app/engine';
import { entraIdProvider, EntraEmulator, startEntraEmulator } from '../emulators/entra-id';
import { OktaEmulator, startOktaEmulator } from '../emulators/okta';
import { startEngine, TestEngine } from '../harness/engine';
import { openLdapProvider, SlapdHandle, startSlapd, serviceAccountAcl } from '../harness/slapd';

/**
 * CONTRACT §10: "no secret ever appears (keys, passwords, tokens, secrets in URLs)". A whole run of the engine
 * (API and worker, in this process) is driven through every path that handles a secret: API keys good, bad
 * and revoked, directories that accept and refuse their credentials, callback URLs and webhook subscriptions
 * with tokens and passwords in them, deliveries that succeed, fail and are redirected, and a 500. Every line
 * written to stdout or stderr and every response body is then searched for every secret. The one exception
 * is the response that hands out a webhook signing secret, and only for that very secret.
 */
/** An answer's parsed body, read field by field as the contract describes it. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = any;

const rand = () => randomBytes(12).toString('hex');

interface Exchange {
  what: string;
  status: number;
  text: string;
  /** The one secret this response may carry (a webhook create or rotate answer). */
  allowed?: string;
}

describe('no secret in any log line or response body', () => {
  const lines: string[] = [];
  const exchanges: Exchange[] = [];
  const restore: Array<() => void> = [];
  const secrets = new Map<string, string>();
  let slapd: SlapdHandle;
  let entra: EntraEmulator;
  let okta: OktaEmulator;
  let engine: TestEngine;
  let receiver: Server;
  let receiverUrl = '';
  const received: Array<{ path: string; headers: Record<string, unknown> }> = [];
  const savedLogLevel = process.env.LOG_LEVEL;

  /** Every write to stdout and stderr, and every console call, kept instead of printed. */
  function capture(): void {
    for (const stream of [process.stdout, process.stderr]) {
      const original = stream.write;
      stream.write = ((chunk: unknown, ...rest: unknown[]) => {
        lines.push(Buffer.isBuffer(chunk) ? chunk.toString('utf8') : String(chunk));
        const done = rest.find((r) => typeof r === 'function') as (() => void) | undefined;
        done?.();
        return true;
      }) as typeof stream.write;
      restore.push(() => (stream.write = original));
    }
    for (const name of ['log', 'info', 'warn', 'error', 'debug', 'trace'] as const) {
      const original = console[name];
      console[name] = (...args: unknown[]) => {
        lines.push(args.map((a) => (typeof a === 'string' ? a : safeStringify(a))).join(' '));
      };
      restore.push(() => (console[name] = original));
    }
  }

  /** A request whose raw answer is kept for the search. */
  async function call(
    method: string,
    path: string,
    init: { body?: unknown; headers?: Record<string, string>; key?: string | null } = {},
  ): Promise<{ status: number; json: Json }> {
    const headers: Record<string, string> = { ...(init.headers ?? {}) };
    const key = init.key === undefined ? engine.adminKey : init.key;
    if (key) headers.authorization = `Bearer ${key}`;
    let body: string | undefined;
    if (init.body !== undefined) {
      headers['content-type'] = 'application/json';
      body = typeof init.body === 'string' ? init.body : JSON.stringify(init.body);
    }
    const res = await fetch(engine.baseUrl + path, { method, headers, body });
    const text = await res.text();
    let json: Json = undefined;
    try {
      json = text ? JSON.parse(text) : undefined;
    } catch {
      /* kept as text */
    }
    const allowed =
      typeof json?.secret === 'string' && /^\/api\/v1\/webhooks/.test(path) ? json.secret : undefined;
    exchanges.push({ what: `${method} ${path}`, status: res.status, text, allowed });
    const headerText = [...res.headers].map(([n, v]) => `${n}: ${v}`).join('\n');
    exchanges.push({ what: `${method} ${path} (headers)`, status: res.status, text: headerText });
    return { status: res.status, json };
  }

  async function waitForTask(id: string): Promise<TaskView> {
    const deadline = Date.now() + 60_000;
    for (;;) {
      const { json } = await call('GET', `/api/v1/tasks/${id}`);
      if (json.status !== 'inProgress') return json as TaskView;
      if (Date.now() > deadline) throw new Error(`task ${id} still inProgress`);
      await new Promise((r) => setTimeout(r, 50)); // polling interval, not a stand-in for synchronisation
    }
  }

  beforeAll(async () => {
    capture();
    process.env.LOG_LEVEL = 'debug';

    receiver = createServer((req, res) => {
      received.push({ path: req.url ?? '', headers: req.headers });
      req.resume();
      req.on('end', () => {
        if (req.url?.startsWith('/fail')) res.writeHead(500).end('{"oops":true}');
        else if (req.url?.startsWith('/redirect'))
          res.writeHead(302, { Location: `/elsewhere?token=${secrets.get('redirect token')}` }).end();
        else res.writeHead(204).end();
      });
    });
    await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
    receiverUrl = `127.0.0.1:${(receiver.address() as AddressInfo).port}`;

    const svcPassword = `ldap-bind-pw-${rand()}`;
    const svcDn = 'uid=svc-response,ou=people,dc=example,dc=org';
    slapd = await startSlapd({
      acl: serviceAccountAcl(svcDn),
      users: [
        { uid: 'svc-response', password: svcPassword },
        { uid: 'fzsecret', mail: 'fzsecret@corp.example', password: `user-pw-${rand()}` },
      ],
    });
    entra = await startEntraEmulator();
    entra.users.add({
      userPrincipalName: 'fzsecret@corp.example',
      mail: 'fzsecret@corp.example',
      accountEnabled: true,
      onPremisesSyncEnabled: null,
    });
    okta = await startOktaEmulator({
      fixture: {
        users: [
          {
            id: '00ufzsecret000000001',
            status: 'ACTIVE' as const,
            sessions: 1,
            profile: { login: 'fzsecret@corp.example', email: 'fzsecret@corp.example' },
          },
        ],
      },
    });

    secrets.set('LDAP bind password', svcPassword);
    secrets.set('wrong LDAP bind password', `ldap-wrong-pw-${rand()}`);
    secrets.set('Entra client secret', entra.clientSecret);
    secrets.set('wrong Entra client secret', `entra-wrong-secret-${rand()}`);
    secrets.set('Okta API token', okta.apiToken);
    secrets.set('wrong Okta API token', `00wrongoktatoken${rand()}`);
    secrets.set('callback signing secret', `whsec_${randomBytes(32).toString('base64')}`);
    secrets.set('callback URL token', `cbtoken${rand()}`);
    secrets.set('callback URL password', `cbpass${rand()}`);
    secrets.set('subscription URL token', `subtoken${rand()}`);
    secrets.set('subscription URL password', `subpass${rand()}`);
    secrets.set('subscription secret', `whsec_${randomBytes(32).toString('base64')}`);
    secrets.set('redirect token', `redirtoken${rand()}`);
    secrets.set('bogus bearer key', `are_${randomBytes(32).toString('base64url')}`);
    secrets.set('bogus Adm-Authorization key', `are_${randomBytes(32).toString('base64url')}`);

    const providers: ProviderConfig[] = [
      openLdapProvider(slapd, { bindDN: svcDn, bindPassword: svcPassword }),
      openLdapProvider(slapd, {
        id: 'ldap-wrong',
        bindDN: svcDn,
        bindPassword: secrets.get('wrong LDAP bind password'),
        maxAttempts: 1,
      }),
      entraIdProvider(entra),
      entraIdProvider(entra, {
        id: 'entra-wrong',
        clientSecret: secrets.get('wrong Entra client secret'),
        maxAttempts: 1,
      }),
      { id: 'okta', kind: 'okta', orgUrl: okta.orgUrl, token: okta.apiToken },
      {
        id: 'okta-wrong',
        kind: 'okta',
        orgUrl: okta.orgUrl,
        token: secrets.get('wrong Okta API token') as string,
        maxAttempts: 1,
      },
    ];
    engine = await startEngine({
      label: 'fuzz-secrets',
      workers: 1,
      providers,
      webhooks: { allowPrivate: true, callbackSecrets: [secrets.get('callback signing secret') as string] },
    });
    secrets.set('webhook encryption key', engine.config.webhooks.encryptionKey as string);
    secrets.set('admin API key', engine.adminKey);
  });

  afterAll(async () => {
    await engine?.stop();
    await Promise.allSettled([slapd?.stop(), entra?.stop(), okta?.stop()]);
    await new Promise((r) => receiver?.close(r));
    for (const undo of restore.reverse()) undo();
    if (savedLogLevel === undefined) delete process.env.LOG_LEVEL;
    else process.env.LOG_LEVEL = savedLogLevel;
  });

  it('logs and answers without any of them through a full run', async () => {
    // API keys: created, used, used wrongly, revoked.
    const writer = await engine.createKey('fz-writer', ['tasks:write', 'tasks:read']);
    const hooks = await engine.createKey('fz-hooks', ['webhooks:manage']);
    const revoked = await engine.createKey('fz-revoked', ['tasks:read']);
    secrets.set('writer API key', writer);
    secrets.set('webhooks API key', hooks);
    secrets.set('revoked API key', revoked);
    await engine.api.get(ApiKeyService).revoke('fz-revoked');
    expect((await call('GET', '/api/v1/tasks', { key: revoked })).status).toBe(401);
    expect((await call('GET', '/api/v1/tasks', { key: secrets.get('bogus bearer key') })).status).toBe(401);
    expect((await call('GET', '/api/v1/tasks', { key: hooks })).status).toBe(403);
    expect(
      (
        await call('POST', '/restApi/api/directoryObjects/account/disable', {
          key: null,
          headers: { 'adm-authorization': secrets.get('bogus Adm-Authorization key') as string },
          body: { directoryObject: 'uid=fzsecret,ou=people,dc=example,dc=org' },
        })
      ).status,
    ).toBe(401);
    expect(
      (
        await call('GET', '/v3.0/response/tasks', {
          key: null,
          headers: {
            authorization: `Basic ${Buffer.from(`admin:${secrets.get('bogus bearer key')}`).toString('base64')}`,
          },
        })
      ).status,
    ).toBe(401);

    // Webhook subscriptions with tokens and passwords in their URLs; one secret given, one generated, one rotated.
    const sub1 = await call('POST', '/api/v1/webhooks', {
      key: hooks,
      body: {
        url: `http://${receiverUrl}/ok?token=${secrets.get('subscription URL token')}`,
        events: ['task.created', 'task.targetUpdated', 'task.completed'],
        secret: secrets.get('subscription secret'),
      },
    });
    expect(sub1.status).toBe(201);
    const sub2 = await call('POST', '/api/v1/webhooks', {
      key: hooks,
      body: {
        url: `http://hook:${secrets.get('subscription URL password')}@${receiverUrl}/fail?token=${secrets.get('subscription URL token')}`,
        events: ['task.completed'],
      },
    });
    expect(sub2.status).toBe(201);
    secrets.set('generated subscription secret', sub2.json.secret);
    const rotated = await call('POST', `/api/v1/webhooks/${sub1.json.id}/rotate-secret`, {
      key: hooks,
      body: {},
    });
    expect(rotated.status).toBe(200);
    secrets.set('rotated subscription secret', rotated.json.secret);
    // A bad secret is refused without being echoed.
    expect(
      (
        await call('POST', '/api/v1/webhooks', {
          key: hooks,
          body: {
            url: 'https://hooks.example.com/',
            events: ['task.completed'],
            secret: `whsec_${secrets.get('callback URL token')}`,
          },
        })
      ).status,
    ).toBe(400);

    // Tasks in every directory, two of each kind refusing the engine's credentials; callbacks with secrets.
    const callback = `http://cb:${secrets.get('callback URL password')}@${receiverUrl}/redirect?token=${secrets.get('callback URL token')}`;
    const disable = await call('POST', '/api/v1/tasks/disable-account', {
      key: writer,
      body: { account: 'fzsecret@corp.example', callbackUrl: callback, description: 'secrets run' },
    });
    expect(disable.status).toBe(202);
    const closed = `http://127.0.0.1:1/cb?token=${secrets.get('callback URL token')}`;
    const viaVisionOne = await call('POST', '/v3.0/response/domainAccounts/disable', {
      key: writer,
      body: [{ accountName: 'nobody-here@corp.example' }],
    });
    expect(viaVisionOne.status).toBe(207);
    const other = await call('POST', '/api/v1/tasks/disable-account', {
      key: writer,
      body: {
        account: 'uid=fzsecret,ou=people,dc=example,dc=org',
        callbackUrl: closed,
        providers: ['ldap', 'ldap-wrong'],
      },
    });
    expect(other.status).toBe(202);
    const task = await waitForTask(disable.json.id);
    expect(task.status).toBe('partiallySuccessful');
    const byProvider = Object.fromEntries(
      task.targets.map((t) => [t.provider, `${t.status}/${t.error?.code ?? t.outcome}`]),
    );
    expect(byProvider).toMatchObject({
      ldap: 'succeeded/disabled',
      'ldap-wrong': 'failed/invalidCredentials',
      entra: 'succeeded/disabled',
      okta: 'succeeded/disabled',
    });
    expect(byProvider['entra-wrong']).toMatch(/^failed\//);
    expect(byProvider['okta-wrong']).toMatch(/^failed\//);
    await waitForTask(other.json.id);

    // Every door's view of the results, error messages included.
    await call('GET', `/api/v1/tasks/${task.id}`);
    await call('GET', '/api/v1/tasks?limit=200');
    await call('GET', `/v3.0/response/tasks/${task.id}`);
    await call('GET', '/v3.0/response/tasks?top=200');
    await call('GET', `/restApi/api/runningOperations/${task.id}`, {
      key: null,
      headers: { 'adm-authorization': writer },
    });
    const enable = await call('POST', '/restApi/api/directoryObjects/account/enable', {
      key: null,
      headers: { 'adm-authorization': writer, 'adm-wait': '30' },
      body: { directoryObject: 'uid=fzsecret,ou=people,dc=example,dc=org' },
    });
    expect(enable.status).toBe(200);

    // A 500 (a body nested past the stack with an Idempotency-Key; see the fuzz spec), with secrets around it.
    const deep = `{"account":"fzsecret","callbackUrl":"${callback}","description":${'['.repeat(20_000)}${']'.repeat(20_000)}}`;
    const crashed = await call('POST', '/api/v1/tasks/disable-account', {
      body: deep,
      headers: { 'idempotency-key': 'fz-deep' },
    });
    expect(crashed.status).toBeGreaterThanOrEqual(400);

    // Deliveries: a success, a 500, a redirect carrying a token, a refused connection; then the delivery log.
    const deadline = Date.now() + 30_000;
    for (;;) {
      const log = await call('GET', '/api/v1/webhooks/deliveries?limit=200', { key: hooks });
      const items: Array<{
        destination: string;
        attemptCount: number;
        lastStatusCode: number | null;
        lastError: unknown;
      }> = log.json.items;
      const redirected = items.some((d) => d.destination === 'callback' && d.lastStatusCode === 302);
      const refused = items.some(
        (d) => d.destination === 'callback' && d.lastError !== null && d.lastStatusCode === null,
      );
      const failed = items.some((d) => d.destination === 'subscription' && d.lastStatusCode === 500);
      const ok = received.some((r) => r.path.startsWith('/ok'));
      if (redirected && refused && failed && ok) break;
      if (Date.now() > deadline)
        throw new Error(`deliveries not all attempted: ${JSON.stringify(items).slice(0, 2000)}`);
      await new Promise((r) => setTimeout(r, 100)); // polling interval, not a stand-in for synchronisation
    }
    await call('GET', '/api/v1/webhooks', { key: hooks });
    await call('GET', `/api/v1/webhooks/${sub2.json.id}`, { key: hooks });

    // The search: every secret, as it is and percent-encoded, in every line and every answer.
    const leaks: string[] = [];
    for (const [name, secret] of secrets) {
      expect(secret.length).toBeGreaterThanOrEqual(16);
      const forms = [...new Set([secret, encodeURIComponent(secret)])];
      lines.forEach((line, i) => {
        if (forms.some((f) => line.includes(f)))
          leaks.push(`log line ${i} has the ${name}: ${line.slice(0, 800)}`);
      });
      for (const x of exchanges) {
        if (x.allowed === secret) continue;
        if (forms.some((f) => x.text.includes(f)))
          leaks.push(`${x.what} → ${x.status} has the ${name}: ${x.text.slice(0, 800)}`);
      }
    }
    const summary = `secrets: ${secrets.size} secrets searched in ${lines.length} log writes and ${exchanges.length} responses`;
    restore
      .splice(0)
      .reverse()
      .forEach((undo) => undo());
    console.log(summary);
    expect(leaks).toEqual([]);
    // The search sees what it searches: the engine's log lines, and the one answer that hands out a secret.
    expect(lines.filter((l) => l.includes(`"taskId":"${task.id}"`)).length).toBeGreaterThan(3);
    const generated = secrets.get('generated subscription secret') as string;
    expect(exchanges.filter((x) => x.text.includes(generated)).map((x) => x.allowed === generated)).toEqual([
      true,
    ]);
  });
});

function safeStringify(v: unknown): string {
  try {
    return JSON.stringify(v) ?? String(v);
  } catch {
    return String(v);
  }
}
