import { UserDirectory, EmulatedUser } from './directory';
import { EmulatorRequest, EmulatorResponse, graphError, json } from './responses';
import { IssuedTokenClaims } from './sts';

// Graph's default property set for a user when no $select is given (user resource page): accountEnabled and
// onPremisesSyncEnabled are NOT in it, which is why a client must $select them.
const DEFAULT_PROPERTIES = [
  'businessPhones',
  'displayName',
  'givenName',
  'jobTitle',
  'mail',
  'mobilePhone',
  'officeLocation',
  'preferredLanguage',
  'surname',
  'userPrincipalName',
  'id',
];
const KNOWN_PROPERTIES = new Set([
  ...DEFAULT_PROPERTIES,
  'accountEnabled',
  'onPremisesSyncEnabled',
  'onPremisesSecurityIdentifier',
  'onPremisesDomainName',
  'onPremisesSamAccountName',
  'signInSessionsValidFromDateTime',
]);
const FILTERABLE = new Set(['mail', 'userPrincipalName', 'id']);

const READ_ROLES = ['User.Read.All', 'User.ReadWrite.All', 'Directory.Read.All', 'Directory.ReadWrite.All'];
const ENABLE_DISABLE_ROLES = [
  'User.EnableDisableAccount.All',
  'User.ReadWrite.All',
  'Directory.ReadWrite.All',
];
const REVOKE_ROLES = ['User.RevokeSessions.All', 'User.ReadWrite.All', 'Directory.ReadWrite.All'];
const WRITE_ROLES = ['User.ReadWrite.All', 'Directory.ReadWrite.All'];

export const MAX_BATCH_REQUESTS = 20;

export interface BatchItemDispatcher {
  (req: EmulatorRequest, claims: IssuedTokenClaims, batchSize: number): Promise<EmulatorResponse>;
}

/** Microsoft Graph v1.0, the users subset plus JSON batching. Paths given here start after /v1.0. */
export class GraphApi {
  constructor(
    private readonly users: UserDirectory,
    private readonly graphBaseUrl: () => string,
  ) {}

  async handle(
    path: string,
    req: EmulatorRequest,
    claims: IssuedTokenClaims,
    dispatchItem: BatchItemDispatcher,
  ): Promise<EmulatorResponse> {
    const crid = req.headers['client-request-id'];
    if (path === '/$batch') {
      if (req.method !== 'POST') return methodNotAllowed(crid);
      return this.batch(req, claims, dispatchItem);
    }
    if (path === '/users') {
      if (req.method !== 'GET') return methodNotAllowed(crid);
      return this.listUsers(req, claims);
    }
    // /users/{id | userPrincipalName}[/revokeSignInSessions] and the /users('{userPrincipalName}') form that
    // Graph documents for UPNs starting with '$'.
    const m = /^\/users(?:\/([^/()]+)|\('((?:[^']|'')*)'\))(\/revokeSignInSessions)?$/.exec(path);
    if (!m)
      return graphError(
        400,
        'BadRequest',
        `Resource not found for the segment '${path.split('/')[1] ?? ''}'.`,
        crid,
      );
    const key = m[1] !== undefined ? decodeURIComponent(m[1]) : decodeURIComponent(m[2]).replace(/''/g, "'");
    if (m[3]) {
      if (req.method !== 'POST') return methodNotAllowed(crid);
      if (!hasRole(claims, REVOKE_ROLES)) return denied(crid);
      const user = this.users.find(key);
      if (!user) return notFound(key, crid);
      this.users.revokeSessions(user.id);
      return json(200, { '@odata.context': `${this.root()}/$metadata#Edm.Boolean`, value: true });
    }
    if (req.method === 'GET') return this.getUser(key, req, claims);
    if (req.method === 'PATCH') return this.patchUser(key, req, claims);
    return methodNotAllowed(crid);
  }

  private root(): string {
    return `${this.graphBaseUrl()}/v1.0`;
  }

  private select(req: EmulatorRequest): string[] | EmulatorResponse {
    const raw = req.query.get('$select');
    if (!raw) return DEFAULT_PROPERTIES;
    const props = raw
      .split(',')
      .map((p) => p.trim())
      .filter(Boolean);
    const unknown = props.find((p) => !KNOWN_PROPERTIES.has(p));
    if (unknown) {
      return graphError(
        400,
        'BadRequest',
        `Could not find a property named '${unknown}' on type 'microsoft.graph.user'.`,
        req.headers['client-request-id'],
      );
    }
    return props.includes('id') ? props : [...props, 'id'];
  }

  private project(user: EmulatedUser, props: string[]): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    const source = user as unknown as Record<string, unknown>;
    for (const p of props) out[p] = p === 'businessPhones' ? [] : (source[p] ?? null);
    return out;
  }

  private getUser(key: string, req: EmulatorRequest, claims: IssuedTokenClaims): EmulatorResponse {
    const crid = req.headers['client-request-id'];
    if (!hasRole(claims, READ_ROLES)) return denied(crid);
    const props = this.select(req);
    if (!Array.isArray(props)) return props;
    const user = this.users.find(key);
    if (!user) return notFound(key, crid);
    const selected = req.query.get('$select');
    return json(200, {
      '@odata.context': `${this.root()}/$metadata#users${selected ? `(${props.join(',')})` : ''}/$entity`,
      ...this.project(user, props),
    });
  }

  private listUsers(req: EmulatorRequest, claims: IssuedTokenClaims): EmulatorResponse {
    const crid = req.headers['client-request-id'];
    if (!hasRole(claims, READ_ROLES)) return denied(crid);
    const props = this.select(req);
    if (!Array.isArray(props)) return props;
    let users = this.users.list();
    const filter = req.query.get('$filter');
    if (filter !== null) {
      // Only `<property> eq '<literal>'`, with '' standing for a quote inside the literal (OData ABNF). String
      // comparison on directory objects is case-insensitive.
      const m = /^\s*([A-Za-z]+)\s+eq\s+'((?:[^']|'')*)'\s*$/.exec(filter);
      if (!m) return graphError(400, 'Request_UnsupportedQuery', 'Unsupported Query.', crid);
      if (!FILTERABLE.has(m[1])) {
        return graphError(
          400,
          'Request_UnsupportedQuery',
          `Unsupported or invalid query filter clause specified for property '${m[1]}' of resource 'User'.`,
          crid,
        );
      }
      const value = m[2].replace(/''/g, "'").toLowerCase();
      users = users.filter(
        (u) => String((u as unknown as Record<string, unknown>)[m[1]] ?? '').toLowerCase() === value,
      );
    }
    const selected = req.query.get('$select');
    return json(200, {
      '@odata.context': `${this.root()}/$metadata#users${selected ? `(${props.join(',')})` : ''}`,
      value: users.map((u) => this.project(u, props)),
    });
  }

  private patchUser(key: string, req: EmulatorRequest, claims: IssuedTokenClaims): EmulatorResponse {
    const crid = req.headers['client-request-id'];
    const body = req.json;
    if (!body || typeof body !== 'object' || Array.isArray(body)) {
      return graphError(400, 'BadRequest', 'Empty Payload. JSON content expected.', crid);
    }
    const changes = body as Record<string, unknown>;
    const names = Object.keys(changes);
    const onlyAccountEnabled = names.length > 0 && names.every((n) => n === 'accountEnabled');
    if (!hasRole(claims, onlyAccountEnabled ? ENABLE_DISABLE_ROLES : WRITE_ROLES)) return denied(crid);
    const user = this.users.find(key);
    if (!user) return notFound(key, crid);
    for (const n of names) {
      if (n !== 'accountEnabled' && n !== 'displayName' && n !== 'jobTitle') {
        return graphError(400, 'Request_BadRequest', `Property '${n}' is read-only and cannot be set.`, crid);
      }
    }
    if ('accountEnabled' in changes && typeof changes.accountEnabled !== 'boolean') {
      return graphError(
        400,
        'Request_BadRequest',
        "Invalid value specified for property 'accountEnabled' of resource 'User'.",
        crid,
      );
    }
    if (user.onPremisesSyncEnabled === true) {
      // microsoft-graph-docs issue #7301: the cloud copy of a synced user is read-only for mastered properties.
      return graphError(
        400,
        'Request_BadRequest',
        'Unable to update the specified properties for on-premises mastered Directory Sync objects or objects currently undergoing migration.',
        crid,
      );
    }
    this.users.set(user.id, changes as Partial<EmulatedUser>);
    return { status: 204, headers: { 'request-id': crid ?? '' } };
  }

  private async batch(
    req: EmulatorRequest,
    claims: IssuedTokenClaims,
    dispatchItem: BatchItemDispatcher,
  ): Promise<EmulatorResponse> {
    const crid = req.headers['client-request-id'];
    const body = req.json as { requests?: unknown } | undefined;
    if (!body || !Array.isArray(body.requests))
      return graphError(400, 'BadRequest', 'Invalid batch payload format.', crid);
    const items = body.requests as Array<Record<string, unknown>>;
    if (items.length > MAX_BATCH_REQUESTS) {
      return graphError(
        400,
        'BadRequest',
        `The number of batch requests exceeds the limit of ${MAX_BATCH_REQUESTS}.`,
        crid,
      );
    }
    const ids = new Set<string>();
    for (const item of items) {
      if (typeof item.id !== 'string' || typeof item.method !== 'string' || typeof item.url !== 'string') {
        return graphError(400, 'BadRequest', 'Invalid batch payload format.', crid);
      }
      const id = item.id.toLowerCase();
      if (ids.has(id))
        return graphError(
          400,
          'BadRequest',
          `Batch request ids must be unique; '${item.id}' is repeated.`,
          crid,
        );
      ids.add(id);
    }

    const results = new Map<string, EmulatorResponse>();
    const run = async (item: Record<string, unknown>): Promise<EmulatorResponse> => {
      const deps = Array.isArray(item.dependsOn) ? (item.dependsOn as string[]) : [];
      for (const d of deps) {
        const r = results.get(d.toLowerCase());
        if (!r || r.status >= 400)
          return graphError(424, 'FailedDependency', 'Dependent request failed.', crid);
      }
      const headers = lowerKeys((item.headers as Record<string, string> | undefined) ?? {});
      if (item.body !== undefined && !headers['content-type']) {
        return graphError(
          400,
          'BadRequest',
          `Write request id : ${String(item.id)} does not contain Content-Type header or body.`,
          crid,
        );
      }
      const rel = String(item.url);
      const url = new URL(`/v1.0${rel.startsWith('/') ? '' : '/'}${rel}`, 'https://batch.invalid');
      return dispatchItem(
        {
          method: String(item.method).toUpperCase(),
          path: url.pathname,
          query: url.searchParams,
          headers: { ...headers, 'client-request-id': headers['client-request-id'] ?? crid },
          rawBody: item.body === undefined ? '' : JSON.stringify(item.body),
          json: item.body,
          seq: req.seq,
        },
        claims,
        items.length,
      );
    };
    // Items run in parallel unless sequenced by dependsOn, as Graph does.
    const sequential = items.some((i) => Array.isArray(i.dependsOn));
    if (sequential) {
      for (const item of items) results.set(String(item.id).toLowerCase(), await run(item));
    } else {
      const all = await Promise.all(items.map(run));
      items.forEach((item, i) => results.set(String(item.id).toLowerCase(), all[i]));
    }
    return json(200, {
      responses: items.map((item) => {
        const r = results.get(String(item.id).toLowerCase())!;
        return {
          id: item.id,
          status: r.status,
          headers: r.headers ?? {},
          ...(r.body === undefined ? {} : { body: r.body }),
        };
      }),
    });
  }
}

function hasRole(claims: IssuedTokenClaims, accepted: string[]): boolean {
  return claims.roles.some((r) => accepted.includes(r));
}

function denied(crid?: string): EmulatorResponse {
  return graphError(
    403,
    'Authorization_RequestDenied',
    'Insufficient privileges to complete the operation.',
    crid,
  );
}

function notFound(key: string, crid?: string): EmulatorResponse {
  return graphError(
    404,
    'Request_ResourceNotFound',
    `Resource '${key}' does not exist or one of its queried reference-property objects are not present.`,
    crid,
  );
}

function lowerKeys(h: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(h).map(([k, v]) => [k.toLowerCase(), v]));
}

/** Graph's answer to a method a resource does not support. */
function methodNotAllowed(clientRequestId: string | undefined): EmulatorResponse {
  return graphError(
    405,
    'Request_BadRequest',
    'Specified HTTP method is not allowed for the request target.',
    clientRequestId,
  );
}
