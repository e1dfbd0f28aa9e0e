import { createServer, Server } from 'node:https';
import { IncomingMessage, ServerResponse } from 'node:http';
import { AddressInfo } from 'node:net';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { UserDirectory, UserSeed } from './directory';
import { GraphApi } from './graph';
import { defaultFaultBody, EmulatorRequest, EmulatorResponse, graphError } from './responses';
import { AppRegistration, IssuedTokenClaims, SecurityTokenService } from './sts';
import { GraphThrottle, GraphThrottleOptions } from './throttle';
import { createClientCertificate, ensureTestCa, makeTempDir } from './tls';

export interface EntraFixture {
  tenant: { id: string; domain: string };
  applications: Array<{
    displayName: string;
    clientId: string;
    secret?: string;
    /** true: the emulator generates a certificate credential for this app at start. */
    certificate?: boolean;
    roles: string[];
  }>;
  users: UserSeed[];
}

export interface FaultOptions {
  /** Answer with this status (and the Graph-shaped default body unless `body` is given). Omit to only delay. */
  status?: number;
  headers?: Record<string, string>;
  body?: unknown;
  /** How many matching requests the fault applies to (default 1). */
  times?: number;
  /** Wait this long before answering (with the fault, or normally when no status is given). */
  delayMs?: number;
}

interface Fault extends FaultOptions {
  method: string;
  pattern: RegExp | string;
  remaining: number;
}

export interface LoggedRequest {
  server: 'login' | 'graph';
  method: string;
  /** Path as received (batch items: /v1.0 + the item's relative url path). */
  path: string;
  query: string;
  status: number;
  /** Carried inside a POST /$batch rather than sent on its own. */
  inBatch: boolean;
  /** Number of items in the $batch this request was part of, or that this $batch carried. */
  batchSize?: number;
  /** Sequence number of the HTTP request; items of one $batch share their batch's. */
  seq: number;
  faulted: boolean;
  time: number;
}

export interface EntraEmulator {
  authorityHost: string;
  graphBaseUrl: string;
  tenantId: string;
  tenantDomain: string;
  clientId: string;
  clientSecret: string;
  certificate: { thumbprint: string; thumbprintSha256: string; privateKeyFile: string; certFile: string };
  /** Other app registrations of the fixture, by display name (e.g. one with read-only permissions). */
  applications: Array<{ displayName: string; clientId: string; clientSecret?: string; roles: string[] }>;
  /** The CA the HTTPS certificate chains to: what NODE_EXTRA_CA_CERTS must name for clients to trust it. */
  caFile: string;
  users: UserDirectory;
  faults: {
    failNext(method: string, pathPattern: RegExp | string, options: FaultOptions): void;
    clear(): void;
  };
  requests: {
    all(): LoggedRequest[];
    clear(): void;
    tokenRequests(): LoggedRequest[];
    batches(): LoggedRequest[];
  };
  /** Invalidates every access token issued so far (Graph then answers 401), as expiry or revocation would. */
  invalidateIssuedTokens(): void;
  /** Lifetime (expires_in) of tokens issued from now on. */
  setTokenLifetime(seconds: number): void;
  /** Graph's throttling from now on (quotas start anew), or none. */
  setThrottle(throttle: GraphThrottleOptions | null): void;
  stop(): Promise<void>;
}

export interface StartOptions {
  fixture?: string | EntraFixture;
  /** Port of the login (authority) server; the Graph server takes the next free one. 0/absent: any free port. */
  port?: number;
  graphPort?: number;
  /** Graph's throttling (per app): none unless given. */
  throttle?: GraphThrottleOptions;
}

const DEFAULT_FIXTURE = join(__dirname, 'fixture.json');

function loadFixture(fixture: string | EntraFixture | undefined): EntraFixture {
  if (fixture && typeof fixture === 'object') return structuredClone(fixture);
  return JSON.parse(readFileSync(fixture ?? DEFAULT_FIXTURE, 'utf8')) as EntraFixture;
}

// Unref'd: a delayed answer still pending when the emulator stops must not keep the test process alive.
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms).unref());

export async function startEntraEmulator(options: StartOptions = {}): Promise<EntraEmulator> {
  const fixture = loadFixture(options.fixture);
  const ca = ensureTestCa();
  const workDir = makeTempDir('entra-emulator-');
  const tenant = { id: fixture.tenant.id.toLowerCase(), domain: fixture.tenant.domain };

  const apps: AppRegistration[] = [];
  let primaryCert: ReturnType<typeof createClientCertificate> | undefined;
  for (const [i, a] of fixture.applications.entries()) {
    const cert = a.certificate ? createClientCertificate(workDir, `app-${i}`) : undefined;
    if (cert && !primaryCert) primaryCert = cert;
    apps.push({
      displayName: a.displayName,
      clientId: a.clientId.toLowerCase(),
      objectId: randomUUID(),
      secrets: a.secret ? [a.secret] : [],
      certificates: cert ? [cert.certificate] : [],
      roles: a.roles,
    });
  }
  if (!apps.length || !fixture.applications[0].secret || !primaryCert) {
    throw new Error('emulator fixture: the first application needs a secret and certificate: true');
  }

  const users = new UserDirectory(fixture.users);
  let loginOrigin = '';
  let graphOrigin = '';
  const sts = new SecurityTokenService(
    tenant,
    apps,
    () => loginOrigin,
    () => graphOrigin,
  );
  const graph = new GraphApi(users, () => graphOrigin);
  const log: LoggedRequest[] = [];
  let faults: Fault[] = [];
  let seq = 0;
  let throttle = options.throttle ? new GraphThrottle(options.throttle) : null;
  /** Requests, direct or inside a $batch, are throttled one by one (json-batching: items are throttled individually). */
  const throttled = (req: EmulatorRequest, claims: IssuedTokenClaims) =>
    req.path === '/v1.0/$batch' ? null : (throttle?.take(req, claims.appid, claims.tid) ?? null);

  const takeFault = (req: EmulatorRequest): Fault | undefined => {
    const target = `${req.path}${req.query.size ? `?${req.query.toString()}` : ''}`;
    const fault = faults.find(
      (f) =>
        f.remaining > 0 &&
        (f.method === '*' || f.method.toUpperCase() === req.method) &&
        (typeof f.pattern === 'string'
          ? target.includes(f.pattern)
          : f.pattern.test(req.path) || f.pattern.test(target)),
    );
    if (fault) fault.remaining--;
    return fault;
  };

  const withFault = async (
    req: EmulatorRequest,
    answer: () => Promise<EmulatorResponse>,
  ): Promise<{ res: EmulatorResponse; faulted: boolean }> => {
    const fault = takeFault(req);
    if (fault?.delayMs) await sleep(fault.delayMs);
    if (fault?.status) {
      const base =
        fault.body === undefined
          ? defaultFaultBody(fault.status, req.headers['client-request-id'])
          : { status: fault.status, body: fault.body, headers: { 'Content-Type': 'application/json' } };
      return { res: { ...base, headers: { ...base.headers, ...fault.headers } }, faulted: true };
    }
    return { res: await answer(), faulted: !!fault };
  };

  const authenticate = (req: EmulatorRequest): IssuedTokenClaims | EmulatorResponse => {
    const crid = req.headers['client-request-id'];
    const auth = req.headers.authorization ?? '';
    const m = /^Bearer (\S+)$/i.exec(auth);
    if (!m) return { ...graphError(401, 'InvalidAuthenticationToken', 'Access token is empty.', crid) };
    const result = sts.validateAccessToken(m[1]);
    if ('error' in result) {
      const r = graphError(
        401,
        'InvalidAuthenticationToken',
        `Access token validation failure. ${result.error}`,
        crid,
      );
      return {
        ...r,
        headers: {
          ...r.headers,
          'WWW-Authenticate': `Bearer realm="", authorization_uri="${loginOrigin}/common/oauth2/authorize", client_id="00000003-0000-0000-c000-000000000000"`,
        },
      };
    }
    return result.claims;
  };

  const dispatchItem = async (req: EmulatorRequest, claims: IssuedTokenClaims, batchSize: number) => {
    const { res, faulted } = await withFault(
      req,
      async () =>
        throttled(req, claims) ?? graph.handle(req.path.slice('/v1.0'.length), req, claims, dispatchItem),
    );
    log.push({
      server: 'graph',
      method: req.method,
      path: req.path,
      query: req.query.toString(),
      status: res.status,
      inBatch: true,
      batchSize,
      seq: req.seq ?? 0,
      faulted,
      time: Date.now(),
    });
    return res;
  };

  const handleGraph = async (req: EmulatorRequest): Promise<EmulatorResponse> => {
    if (!req.path.startsWith('/v1.0/')) {
      return graphError(
        400,
        'BadRequest',
        `Invalid version: ${req.path.split('/')[1] ?? ''}`,
        req.headers['client-request-id'],
      );
    }
    const claims = authenticate(req);
    if ('status' in claims) return claims;
    return throttled(req, claims) ?? graph.handle(req.path.slice('/v1.0'.length), req, claims, dispatchItem);
  };

  const handleLogin = async (req: EmulatorRequest): Promise<EmulatorResponse> =>
    sts.handle(req) ?? { status: 404, headers: { 'Content-Type': 'text/html' }, body: 'Not Found' };

  const listener = (server: 'login' | 'graph') => async (incoming: IncomingMessage, out: ServerResponse) => {
    const chunks: Buffer[] = [];
    for await (const c of incoming) chunks.push(c as Buffer);
    const rawBody = Buffer.concat(chunks).toString('utf8');
    const url = new URL(incoming.url ?? '/', 'https://emulator.invalid');
    const headers = incoming.headers as Record<string, string | undefined>;
    let parsed: unknown;
    if ((headers['content-type'] ?? '').includes('json') && rawBody) {
      try {
        parsed = JSON.parse(rawBody);
      } catch {
        parsed = undefined;
      }
    }
    const req: EmulatorRequest = {
      method: incoming.method ?? 'GET',
      path: url.pathname,
      query: url.searchParams,
      headers,
      rawBody,
      json: parsed,
      seq: ++seq,
    };
    let result: { res: EmulatorResponse; faulted: boolean };
    try {
      result = await withFault(req, () => (server === 'login' ? handleLogin(req) : handleGraph(req)));
    } catch (e) {
      result = {
        res: graphError(500, 'InternalServerError', `emulator bug: ${(e as Error).message}`),
        faulted: false,
      };
    }
    const { res, faulted } = result;
    const batchSize =
      req.path === '/v1.0/$batch' && Array.isArray((parsed as { requests?: unknown[] })?.requests)
        ? (parsed as { requests: unknown[] }).requests.length
        : undefined;
    log.push({
      server,
      method: req.method,
      path: req.path,
      query: url.searchParams.toString(),
      status: res.status,
      inBatch: false,
      batchSize,
      seq: req.seq ?? 0,
      faulted,
      time: Date.now(),
    });
    if (out.destroyed) return;
    const body =
      res.body === undefined ? '' : typeof res.body === 'string' ? res.body : JSON.stringify(res.body);
    out.writeHead(res.status, res.headers ?? {});
    out.end(body);
  };

  const tlsOptions = { key: readFileSync(ca.serverKeyFile), cert: readFileSync(ca.serverCertFile) };
  const listen = (s: Server, port: number) =>
    new Promise<number>((resolve, reject) => {
      s.once('error', reject);
      s.listen(port, '127.0.0.1', () => resolve((s.address() as AddressInfo).port));
    });
  const loginServer = createServer(tlsOptions, (i, o) => void listener('login')(i, o));
  const graphServer = createServer(tlsOptions, (i, o) => void listener('graph')(i, o));
  loginOrigin = `https://127.0.0.1:${await listen(loginServer, options.port ?? 0)}`;
  graphOrigin = `https://127.0.0.1:${await listen(graphServer, options.graphPort ?? 0)}`;

  const stop = async () => {
    for (const s of [loginServer, graphServer]) {
      s.closeAllConnections();
      await new Promise<void>((r) => s.close(() => r()));
    }
    rmSync(workDir, { recursive: true, force: true });
  };

  // The client side must trust the test CA; without it every adapter call fails with an opaque TLS error, so
  // say what is wrong at once.
  try {
    await fetch(`${loginOrigin}/${tenant.id}/v2.0/.well-known/openid-configuration`);
    log.length = 0;
  } catch (e) {
    await stop();
    const cause = (e as { cause?: { code?: string } }).cause?.code ?? (e as Error).message;
    throw new Error(
      `this process does not trust the emulator's test CA (${cause}). Node reads NODE_EXTRA_CA_CERTS only at start: ` +
        `run with NODE_EXTRA_CA_CERTS=${ca.caFile} (jest's globalSetup sets it for its workers; a single spec run in band needs it on the command line).`,
      { cause: e },
    );
  }

  const first = fixture.applications[0];
  return {
    authorityHost: loginOrigin,
    graphBaseUrl: graphOrigin,
    tenantId: tenant.id,
    tenantDomain: tenant.domain,
    clientId: apps[0].clientId,
    clientSecret: first.secret!,
    certificate: {
      thumbprint: primaryCert.thumbprint,
      thumbprintSha256: primaryCert.thumbprintSha256,
      privateKeyFile: primaryCert.privateKeyFile,
      certFile: primaryCert.certFile,
    },
    applications: fixture.applications.map((a) => ({
      displayName: a.displayName,
      clientId: a.clientId,
      clientSecret: a.secret,
      roles: a.roles,
    })),
    caFile: ca.caFile,
    users,
    faults: {
      failNext(method, pathPattern, opts) {
        faults.push({ ...opts, method, pattern: pathPattern, remaining: opts.times ?? 1 });
      },
      clear() {
        faults = [];
      },
    },
    requests: {
      all: () => [...log],
      clear: () => {
        log.length = 0;
      },
      tokenRequests: () => log.filter((r) => r.server === 'login' && /\/oauth2\/v2\.0\/token$/.test(r.path)),
      batches: () => log.filter((r) => r.server === 'graph' && !r.inBatch && r.path === '/v1.0/$batch'),
    },
    invalidateIssuedTokens: () => sts.invalidateIssuedTokens(),
    setTokenLifetime: (seconds) => {
      sts.tokenLifetimeSeconds = seconds;
    },
    setThrottle: (t) => {
      throttle = t ? new GraphThrottle(t) : null;
    },
    stop,
  };
}
