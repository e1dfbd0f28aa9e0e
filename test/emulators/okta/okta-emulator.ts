import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, IncomingMessage, Server, ServerResponse } from 'node:http';
import { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { OAuthServer, registerServiceApp } from './oauth-server';
import {
  accessDenied,
  EmulatedError,
  internalError,
  invalidSearch,
  invalidToken,
  pathNotFound,
  rateLimited,
  userNotFound,
} from './okta-errors';
import { parseSearch, Predicate, SearchSyntaxError } from './search-expression';
import { EmulatedUser, Fixture, LIFECYCLE_OPERATIONS, userJson, UserStore } from './user-store';

/**
 * Okta's rate-limit buckets for the endpoints emulated here ("Management rate limits",
 * developer.okta.com/docs/reference/rl-global-mgmt): each endpoint family has its own limit per window and its
 * own X-Rate-Limit-* headers. See README.md for which family each bucket stands for.
 */
export type OktaRateBucket =
  'user-get' | 'users-list' | 'user-lifecycle' | 'user-sessions' | 'api-v1' | 'oauth2';

/** Requests per window by default: the "Workforce identity" column of Okta's management rate-limit table. */
export const OKTA_DEFAULT_RATE_LIMITS: Readonly<Record<OktaRateBucket, number>> = {
  'user-get': 2_000,
  'users-list': 600,
  'user-lifecycle': 600,
  'user-sessions': 1_200,
  'api-v1': 1_200,
  oauth2: 2_000,
};

/** Okta counts its limits per minute. */
export const OKTA_RATE_LIMIT_WINDOW_MS = 60_000;

/** The bucket of a request, by Okta's endpoint families (method and path; the query does not matter). */
export function oktaRateBucket(method: string, pathname: string): OktaRateBucket {
  const s = pathname.split('/').filter(Boolean);
  if (s[0] === 'oauth2') return 'oauth2';
  if (s[0] !== 'api' || s[1] !== 'v1' || s[2] !== 'users') return 'api-v1';
  if (s.length === 3) return method === 'GET' || method === 'POST' ? 'users-list' : 'api-v1';
  if (s.length === 4) return method === 'GET' ? 'user-get' : 'user-lifecycle';
  if (s[4] === 'lifecycle') return 'user-lifecycle';
  if (s[4] === 'sessions') return 'user-sessions';
  return 'api-v1';
}

export interface StartOktaEmulatorOptions {
  /** Users to seed; defaults to fixture.json beside this file. */
  fixture?: Fixture;
  /** Requests allowed per window in each bucket, over OKTA_DEFAULT_RATE_LIMITS. */
  rateLimits?: Partial<Record<OktaRateBucket, number>>;
  /** One limit for every bucket (each bucket still counted on its own). Applied before `rateLimits`. */
  rateLimitPerMinute?: number;
  /** Length of a rate-limit window; Okta's is one minute (the default). Shorter ones are for tests. */
  rateLimitWindowMs?: number;
  port?: number;
  /** Scopes granted to the emulated API service app. Default okta.users.read and okta.users.manage. */
  grantedScopes?: string[];
  /**
   * Id or login of the user who owns the API token (GET /api/v1/users/me with SSWS answers it). Default: the
   * fixture's `tokenOwner`; null: the token belongs to no user, and /users/me answers 404.
   */
  tokenOwner?: string | null;
}

export interface RecordedRequest {
  method: string;
  /** The raw path as sent, percent-encoding kept. */
  path: string;
  /** The path with each segment decoded. */
  decodedPath: string;
  query: Record<string, string>;
  authScheme: string | null;
  status: number;
  /** The rate-limit bucket that counted it. */
  bucket: OktaRateBucket;
  /** When the request had fully arrived, and when it was answered (later by any `delayMs` held). */
  receivedAt: number;
  at: number;
  responseHeaders: Record<string, string>;
}

export interface FailNextOptions {
  /** Answer with this status instead of handling the request; omit to only delay it. */
  status?: number;
  body?: unknown;
  headers?: Record<string, string>;
  /** How many matching requests the rule applies to. Default 1. */
  times?: number;
  /** Hold the answer this long first (for client timeouts). */
  delayMs?: number;
}

export interface OktaEmulator {
  orgUrl: string;
  apiToken: string;
  /** Id of the user who owns `apiToken`, or null. */
  tokenOwnerId: string | null;
  oauth: { clientId: string; privateKeyFile: string; keyId: string };
  users: UserStore;
  requests: RecordedRequest[];
  /** Every bucket limited to `perWindow` requests per window; every window starts anew. */
  setRateLimit(perWindow: number): void;
  /** Some buckets' limits; their windows start anew. */
  setRateLimits(limits: Partial<Record<OktaRateBucket, number>>): void;
  /** The limit of each bucket now, and the window length they apply to. */
  rateLimits(): { limits: Record<OktaRateBucket, number>; windowMs: number };
  failNext(method: string, pathPattern: string | RegExp, options: FailNextOptions): void;
  /** Drops every failNext rule not used up yet. */
  clearFailures(): void;
  /** Requests received and not answered yet (e.g. held by a failNext delay): what a client has on the wire. */
  inFlight(): Array<{ method: string; path: string }>;
  /** Forget every access token the token endpoint issued (an hour passing). */
  expireAccessTokens(): void;
  /** The admin roles GET /api/v1/users/{id}/roles lists for a user (role types, e.g. HELP_DESK_ADMIN). */
  setAdminRoles(idOrLogin: string, roles: string[]): void;
  stop(): Promise<void>;
}

interface FailRule extends FailNextOptions {
  method: string;
  pattern: RegExp;
  remaining: number;
}

interface Reply {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
}

const DEFAULT_FIXTURE = join(__dirname, 'fixture.json');
const READ_SCOPES = ['okta.users.read', 'okta.users.manage'];
const WRITE_SCOPES = ['okta.users.manage'];
const ROLE_READ_SCOPES = ['okta.roles.read', 'okta.roles.manage'];

/** Labels of Okta's standard admin roles ("Standard administrator roles and permissions"). */
const ROLE_LABELS: Record<string, string> = {
  SUPER_ADMIN: 'Super Administrator',
  ORG_ADMIN: 'Organization Administrator',
  APP_ADMIN: 'Application Administrator',
  USER_ADMIN: 'Group Administrator',
  HELP_DESK_ADMIN: 'Help Desk Administrator',
  READ_ONLY_ADMIN: 'Read-only Administrator',
  MOBILE_ADMIN: 'Mobile Administrator',
  API_ACCESS_MANAGEMENT_ADMIN: 'API Access Management Administrator',
  REPORT_ADMIN: 'Report Administrator',
  GROUP_MEMBERSHIP_ADMIN: 'Group Membership Administrator',
  CUSTOM: 'Custom role',
};

/** `*` in a string pattern stands for one path segment; a RegExp is used as given. */
function toRegExp(pattern: string | RegExp): RegExp {
  if (pattern instanceof RegExp) return pattern;
  const escaped = pattern.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^/]+');
  return new RegExp(`^${escaped}$`);
}

const errorReply = (e: EmulatedError, headers?: Record<string, string>): Reply => ({
  status: e.status,
  body: e.body,
  headers,
});

export async function startOktaEmulator(options: StartOktaEmulatorOptions = {}): Promise<OktaEmulator> {
  const fixture: Fixture = structuredClone(
    options.fixture ?? (JSON.parse(readFileSync(DEFAULT_FIXTURE, 'utf8')) as Fixture),
  );
  const users = new UserStore(fixture);
  const ownerKey = options.tokenOwner === undefined ? fixture.tokenOwner : options.tokenOwner;
  const owner = ownerKey ? users.lookup(ownerKey) : null;
  if (owner && !('id' in owner)) throw new Error(`okta emulator: token owner ${ownerKey} is not a user`);
  const tokenOwnerId = owner ? owner.id : null;
  const adminRoles = new Map<string, string[]>(
    fixture.users.filter((u) => u.adminRoles?.length).map((u) => [u.id, [...(u.adminRoles ?? [])]]),
  );
  const apiToken = '00' + randomBytes(30).toString('base64url').slice(0, 40);
  const app = registerServiceApp(options.grantedScopes ?? ['okta.users.read', 'okta.users.manage']);
  const keyDir = mkdtempSync(join(tmpdir(), 'okta-emulator-'));
  const privateKeyFile = join(keyDir, 'service-app.pem');
  writeFileSync(privateKeyFile, app.privateKeyPem, { mode: 0o600 });

  let orgUrl = '';
  const oauth = new OAuthServer(app, () => `${orgUrl}/oauth2/v1/token`);
  const requests: RecordedRequest[] = [];
  const inFlight = new Set<{ method: string; path: string }>();
  const rules: FailRule[] = [];
  const timers = new Set<NodeJS.Timeout>();
  const windowMs = options.rateLimitWindowMs ?? OKTA_RATE_LIMIT_WINDOW_MS;
  const limits: Record<OktaRateBucket, number> = { ...OKTA_DEFAULT_RATE_LIMITS };
  if (options.rateLimitPerMinute !== undefined)
    for (const b of Object.keys(limits) as OktaRateBucket[]) limits[b] = options.rateLimitPerMinute;
  Object.assign(limits, options.rateLimits ?? {});
  /** A fixed window per bucket, opened by the first request after the previous one ended. */
  const windows = new Map<OktaRateBucket, { start: number; used: number }>();

  /** Counts the request in its bucket: the headers to send, and whether it is over the limit. */
  const countIn = (bucket: OktaRateBucket): { headers: Record<string, string>; exceeded: boolean } => {
    const now = Date.now();
    let w = windows.get(bucket);
    if (!w || now - w.start >= windowMs) {
      w = { start: now, used: 0 };
      windows.set(bucket, w);
    }
    w.used++;
    const limit = limits[bucket];
    return {
      headers: {
        'X-Rate-Limit-Limit': String(limit),
        'X-Rate-Limit-Remaining': String(Math.max(0, limit - w.used)),
        'X-Rate-Limit-Reset': String(Math.ceil((w.start + windowMs) / 1000)),
      },
      exceeded: w.used > limit,
    };
  };

  const delay = (ms: number) =>
    new Promise<void>((resolve) => {
      const t = setTimeout(() => {
        timers.delete(t);
        resolve();
      }, ms);
      timers.add(t);
    });

  const handleApi = (
    method: string,
    segments: string[],
    query: URLSearchParams,
    auth: { scopes: string[] | null },
  ): Reply => {
    const needs = method === 'GET' ? READ_SCOPES : WRITE_SCOPES;
    const scopeDenied = () =>
      auth.scopes && !auth.scopes.some((s) => needs.includes(s))
        ? errorReply(accessDenied(), {
            'WWW-Authenticate': `Bearer authorization_uri="${orgUrl}/oauth2/v1/authorize", realm="${orgUrl}", scope="${needs[needs.length - 1]}", error="insufficient_scope", error_description="The access token provided does not contain the required scopes.", resource="/${segments.join('/')}"`,
          })
        : null;
    // segments: ['api','v1','users', key?, ...]
    if (segments[2] !== 'users') return errorReply(pathNotFound());
    const denied = scopeDenied();
    if (denied) return denied;
    const key = segments[3];
    if (method === 'GET' && segments.length === 3) return listUsers(query);
    if (key === undefined || key === '') return errorReply(pathNotFound());
    const asUser = (r: EmulatedUser | EmulatedError): EmulatedUser | Reply =>
      'id' in r ? r : errorReply(r as EmulatedError);
    if (method === 'GET' && segments.length === 4 && key === 'me') {
      // "You can substitute me for the id to fetch the current user linked to an API token": the admin who
      // created the token. An OAuth service-app token is linked to no user.
      const me = auth.scopes === null && tokenOwnerId ? users.get(tokenOwnerId) : undefined;
      return me ? { status: 200, body: userJson(me, orgUrl) } : errorReply(userNotFound('me'));
    }
    if (method === 'GET' && segments.length === 5 && segments[4] === 'roles') {
      // "List all Roles assigned to a User": standard roles by type; OAuth tokens need okta.roles.read.
      if (auth.scopes && !auth.scopes.some((s) => ROLE_READ_SCOPES.includes(s)))
        return errorReply(accessDenied());
      const r = asUser(users.lookup(key));
      if (!('id' in r)) return r;
      const body = (adminRoles.get(r.id) ?? []).map((type, i) => ({
        id: `ra${r.id.slice(-8)}${String(i).padStart(4, '0')}`,
        label: ROLE_LABELS[type] ?? type,
        type,
        status: 'ACTIVE',
        created: r.created,
        lastUpdated: r.created,
        assignmentType: 'USER',
      }));
      return { status: 200, body };
    }
    if (method === 'GET' && segments.length === 4) {
      const r = asUser(users.lookup(key));
      return 'id' in r ? { status: 200, body: userJson(r, orgUrl) } : r;
    }
    if (method === 'DELETE' && segments.length === 5 && segments[4] === 'sessions') {
      const r = asUser(users.clearSessions(key, query.get('oauthTokens') === 'true'));
      return 'id' in r ? { status: 204 } : r;
    }
    const op = segments[5] as (typeof LIFECYCLE_OPERATIONS)[number];
    if (
      method === 'POST' &&
      segments.length === 6 &&
      segments[4] === 'lifecycle' &&
      LIFECYCLE_OPERATIONS.includes(op)
    ) {
      const sendEmail = query.get('sendEmail') !== 'false';
      const r = asUser(users.lifecycle(key, op, sendEmail));
      if (!('id' in r)) return r;
      if ((op === 'activate' || op === 'reactivate') && !sendEmail) {
        const token = randomBytes(10).toString('base64url');
        return { status: 200, body: { activationUrl: `${orgUrl}/welcome/${token}`, activationToken: token } };
      }
      return { status: 200 };
    }
    return errorReply(pathNotFound());
  };

  const listUsers = (query: URLSearchParams): Reply => {
    let predicate: Predicate;
    const expression = query.get('search') ?? query.get('filter');
    try {
      if (expression !== null) predicate = parseSearch(expression);
      else if (query.get('q') !== null) {
        const q = (query.get('q') as string).toLowerCase();
        predicate = (u) =>
          u.status !== 'DEPROVISIONED' &&
          [u.profile.firstName, u.profile.lastName, u.profile.email].some((v) =>
            v?.toLowerCase().startsWith(q),
          );
      } else predicate = (u) => u.status !== 'DEPROVISIONED';
    } catch (e) {
      if (e instanceof SearchSyntaxError) return errorReply(invalidSearch(e.message));
      throw e;
    }
    const pageSize = Math.min(Number(query.get('limit') ?? 200) || 200, 200);
    const after = query.get('after');
    const matching = users.all().filter(predicate);
    const start = after ? matching.findIndex((u) => u.id > after) : 0;
    const page = start < 0 ? [] : matching.slice(start, start + pageSize);
    const selfUrl = `${orgUrl}/api/v1/users?${query.toString()}`;
    const links = [`<${selfUrl}>; rel="self"`];
    if (start >= 0 && start + pageSize < matching.length) {
      const next = new URLSearchParams(query);
      next.set('after', page[page.length - 1].id);
      next.set('limit', String(pageSize));
      links.push(`<${orgUrl}/api/v1/users?${next.toString()}>; rel="next"`);
    }
    return { status: 200, body: page.map((u) => userJson(u, orgUrl)), headers: { Link: links.join(', ') } };
  };

  /** SSWS for API tokens, Bearer for OAuth access tokens; null scopes means "an API token: admin's rights". */
  const authenticate = (header: string | undefined): { scopes: string[] | null } | Reply => {
    const [scheme, value] = (header ?? '').split(/\s+/, 2);
    if (scheme === 'SSWS' && value === apiToken) return { scopes: null };
    if (scheme === 'Bearer' && value) {
      const t = oauth.introspect(value);
      if (t) return { scopes: t.scopes };
      return errorReply(invalidToken(), {
        'WWW-Authenticate': `Bearer authorization_uri="${orgUrl}/oauth2/v1/authorize", realm="${orgUrl}", scope="okta.users.read", error="invalid_token", error_description="The token is not valid as it was issued for an unknown authorization server or has expired."`,
      });
    }
    return errorReply(invalidToken());
  };

  const handle = async (req: IncomingMessage, body: string): Promise<Reply> => {
    const url = new URL(req.url ?? '/', 'http://emulator');
    const method = (req.method ?? 'GET').toUpperCase();
    const rule = rules.find((r) => r.remaining > 0 && r.method === method && r.pattern.test(url.pathname));
    if (rule) {
      rule.remaining--;
      if (rule.delayMs) await delay(rule.delayMs);
      if (rule.status !== undefined) {
        const body = rule.body ?? (rule.status >= 500 ? internalError().body : undefined);
        return { status: rule.status, body, headers: rule.headers };
      }
    }
    if (url.pathname === '/oauth2/v1/token' && method === 'POST') {
      const r = oauth.token(new URLSearchParams(body));
      return { status: r.status, body: r.body, headers: { 'Cache-Control': 'no-store', Pragma: 'no-cache' } };
    }
    const segments = url.pathname.split('/').slice(1).map(decodeURIComponent);
    if (segments[0] !== 'api' || segments[1] !== 'v1') return errorReply(pathNotFound());
    const auth = authenticate(req.headers.authorization);
    if ('status' in auth) return auth;
    return handleApi(method, segments, url.searchParams, auth);
  };

  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const receivedAt = Date.now();
      const url = new URL(req.url ?? '/', 'http://emulator');
      const pending = { method: (req.method ?? 'GET').toUpperCase(), path: url.pathname };
      inFlight.add(pending);
      const bucket = oktaRateBucket(pending.method, url.pathname);
      const counted = countIn(bucket);
      const headers: Record<string, string> = {
        ...counted.headers,
        // Set here rather than left to node so the request log holds the value the client saw.
        Date: new Date().toUTCString(),
        'X-Okta-Request-Id': randomBytes(12).toString('base64url'),
      };
      const exceeded = counted.exceeded;
      const replyPromise: Promise<Reply> = exceeded
        ? Promise.resolve(errorReply(rateLimited()))
        : handle(req, Buffer.concat(chunks).toString('utf8')).catch((e: unknown) => {
            console.error('okta emulator: handler failed', e);
            return errorReply(internalError());
          });
      void replyPromise.then((reply) => {
        inFlight.delete(pending);
        if (res.destroyed) return;
        Object.assign(headers, reply.headers ?? {});
        const text = reply.body === undefined ? '' : JSON.stringify(reply.body);
        if (text) headers['Content-Type'] = 'application/json';
        requests.push({
          method: (req.method ?? 'GET').toUpperCase(),
          path: url.pathname,
          decodedPath: url.pathname
            .split('/')
            .map((s) => {
              try {
                return decodeURIComponent(s);
              } catch {
                return s;
              }
            })
            .join('/'),
          query: Object.fromEntries(url.searchParams),
          authScheme: req.headers.authorization?.split(/\s+/, 1)[0] ?? null,
          status: reply.status,
          bucket,
          receivedAt,
          at: Date.now(),
          responseHeaders: Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), v])),
        });
        res.writeHead(reply.status, headers);
        res.end(text);
      });
    });
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => resolve());
  });
  orgUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  return {
    orgUrl,
    apiToken,
    tokenOwnerId,
    oauth: { clientId: app.clientId, privateKeyFile, keyId: app.keyId },
    users,
    requests,
    setRateLimit(perWindow: number) {
      for (const b of Object.keys(limits) as OktaRateBucket[]) limits[b] = perWindow;
      windows.clear();
    },
    setRateLimits(changed) {
      for (const [b, n] of Object.entries(changed) as Array<[OktaRateBucket, number]>) {
        limits[b] = n;
        windows.delete(b);
      }
    },
    rateLimits: () => ({ limits: { ...limits }, windowMs }),
    failNext(method, pathPattern, opts) {
      rules.push({
        ...opts,
        method: method.toUpperCase(),
        pattern: toRegExp(pathPattern),
        remaining: opts.times ?? 1,
      });
    },
    inFlight: () => [...inFlight],
    clearFailures() {
      rules.length = 0;
    },
    expireAccessTokens() {
      oauth.expireAllTokens();
    },
    setAdminRoles(idOrLogin, roles) {
      const u = users.lookup(idOrLogin);
      if (!('id' in u)) throw new Error(`okta emulator: no user ${idOrLogin}`);
      adminRoles.set(u.id, [...roles]);
    },
    async stop() {
      for (const t of timers) clearTimeout(t);
      timers.clear();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      rmSync(keyDir, { recursive: true, force: true });
    },
  };
}
