import { lookup as dnsLookup, LookupAddress, LookupOptions } from 'node:dns';
import * as http from 'node:http';
import * as https from 'node:https';
import { isIP, LookupFunction, Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { DestinationPolicy, normaliseHostName } from './destination-policy';
import type { AttemptResult } from './retry-policy';

/** Refused by the destination policy; carried through Node's socket errors to the request. */
export class DestinationNotAllowedError extends Error {
  readonly code = 'EDESTINATIONNOTALLOWED';
  constructor(message: string) {
    super(message);
    this.name = 'DestinationNotAllowedError';
  }
}

class AttemptTimeoutError extends Error {
  readonly code = 'EWEBHOOKTIMEOUT';
}

/** dns.lookup's shape, always asked for every address. Injectable so tests can make a name resolve anywhere. */
export type Resolver = (
  hostname: string,
  callback: (err: NodeJS.ErrnoException | null, addresses: LookupAddress[]) => void,
) => void;

const systemResolver: Resolver = (hostname, callback) =>
  dnsLookup(hostname, { all: true, verbatim: true }, (err, addresses) => callback(err, addresses ?? []));

export interface OutboundPost {
  url: string;
  headers: Record<string, string>;
  body: string;
  timeoutMs: number;
}

/** Bytes of a response body read (and thrown away) before the connection is cut. */
const MAX_RESPONSE_BYTES = 64 * 1024;
const USER_AGENT = 'account-response-engine-webhooks/1';

/**
 * POSTs webhooks with node:http(s), never fetch: Node's fetch (undici) ignores http.Agent, and the agent is
 * where the guard sits. Every connection goes through `createConnection`, which:
 * - refuses an IP literal the policy refuses (net.connect does no lookup for literals);
 * - resolves names with a lookup that checks EVERY address returned, so the address connected to is one that
 *   was checked (no second resolution to rebind);
 * - checks the socket's peer address once connected, before the request is written, as a last line.
 * Redirects are never followed (node:http does not), and only http: and https: URLs are sent.
 */
export class SafeHttpClient {
  private readonly httpAgent: http.Agent;
  private readonly httpsAgent: https.Agent;

  constructor(
    private readonly policy: DestinationPolicy,
    private readonly resolver: Resolver = systemResolver,
  ) {
    this.httpAgent = guarded(new http.Agent({ keepAlive: false }), http.Agent.prototype, this);
    this.httpsAgent = guarded(new https.Agent({ keepAlive: false }), https.Agent.prototype, this);
  }

  async post(req: OutboundPost): Promise<AttemptResult & { durationMs: number }> {
    const started = process.hrtime.bigint();
    const result = await this.send(req);
    return { ...result, durationMs: Number((process.hrtime.bigint() - started) / 1_000_000n) };
  }

  /** The lookup handed to net.connect: refuses the whole name if any address it resolves to is refused. */
  lookupFor(hostName: string): LookupFunction {
    return (hostname: string, options: LookupOptions, callback) => {
      this.resolver(hostname, (err, addresses) => {
        if (err) return callback(err, '', 0);
        if (addresses.length === 0) return callback(notFound(hostname), '', 0);
        for (const a of addresses) {
          const refusal = this.policy.refusal(hostName, a.address);
          if (refusal) {
            return callback(
              new DestinationNotAllowedError(`${hostName} resolves to a refused address: ${refusal}`),
              '',
              0,
            );
          }
        }
        const wanted =
          options.family === 4 || options.family === 6
            ? addresses.filter((a) => a.family === options.family)
            : addresses;
        if (wanted.length === 0) return callback(notFound(hostname), '', 0);
        if (options.all) callback(null, wanted);
        else callback(null, wanted[0].address, wanted[0].family);
      });
    };
  }

  /** Why the policy refuses this connection before it is made, if it does (IP literals). */
  literalRefusal(host: string, hostName: string): string | null {
    return isIP(host) ? this.policy.refusal(hostName, host) : null;
  }

  peerRefusal(hostName: string, address: string | undefined): string | null {
    if (!address) return 'the connection has no peer address';
    return this.policy.refusal(hostName, address);
  }

  private send(req: OutboundPost): Promise<AttemptResult> {
    let url: URL;
    try {
      url = new URL(req.url);
    } catch {
      return Promise.resolve({ kind: 'error', code: 'invalidUrl', message: 'not an absolute URL' });
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      return Promise.resolve({
        kind: 'error',
        code: 'invalidUrl',
        message: `scheme ${url.protocol} is not sent to`,
      });
    }
    const hostName = normaliseHostName(url.hostname);
    const literal = this.literalRefusal(hostName, hostName);
    if (literal) return Promise.resolve({ kind: 'error', code: 'destinationNotAllowed', message: literal });

    return new Promise((resolve) => {
      let settled = false;
      const settle = (r: AttemptResult) => {
        if (settled) return;
        settled = true;
        resolve(r);
      };
      const isHttps = url.protocol === 'https:';
      const options: http.RequestOptions = {
        method: 'POST',
        protocol: url.protocol,
        hostname: hostName,
        port: url.port || (isHttps ? 443 : 80),
        path: url.pathname + url.search,
        agent: isHttps ? this.httpsAgent : this.httpAgent,
        headers: {
          'content-type': 'application/json',
          'content-length': String(Buffer.byteLength(req.body)),
          'user-agent': USER_AGENT,
          ...req.headers,
        },
      };
      if (url.username || url.password) {
        options.auth = `${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`;
      }
      const request = (isHttps ? https : http).request(options);
      // One deadline for the whole attempt (connect, TLS, request, status line), not an idle timeout.
      const timer = setTimeout(
        () => request.destroy(new AttemptTimeoutError(`no response within ${req.timeoutMs} ms`)),
        req.timeoutMs,
      );
      request.on('response', (res) => {
        settle({
          kind: 'response',
          statusCode: res.statusCode ?? 0,
          retryAfter: header(res.headers['retry-after']),
        });
        // The body is not needed; read a little so the receiver is not cut off mid-write, then hang up.
        let read = 0;
        res.on('data', (chunk: Buffer) => {
          read += chunk.length;
          if (read > MAX_RESPONSE_BYTES) res.destroy();
        });
        res.on('error', () => undefined);
        res.on('close', () => clearTimeout(timer));
      });
      request.on('error', (err: NodeJS.ErrnoException) => {
        clearTimeout(timer);
        settle(classify(err));
      });
      request.end(req.body);
    });
  }
}

/** Overrides the agent's createConnection so that no socket of this agent escapes the policy. */
function guarded<A extends http.Agent>(agent: A, proto: http.Agent, client: SafeHttpClient): A {
  const original = (proto as unknown as { createConnection: CreateConnection }).createConnection;
  (agent as unknown as { createConnection: CreateConnection }).createConnection = function (
    this: http.Agent,
    options: ConnectOptions,
    callback?: (err: Error | null, socket?: Duplex) => void,
  ) {
    const hostName = normaliseHostName(options.host ?? options.hostname ?? '');
    const literal = client.literalRefusal(hostName, hostName);
    if (literal) {
      const s = new Socket();
      process.nextTick(() => s.destroy(new DestinationNotAllowedError(literal)));
      return s;
    }
    const socket = original.call(
      this,
      { ...options, lookup: client.lookupFor(hostName) },
      callback,
    ) as Socket;
    // Registered before the request's own 'connect' listener writes anything.
    socket.once('connect', () => {
      const tcp = (socket as Socket & { _parent?: Socket })._parent ?? socket;
      const refusal = client.peerRefusal(hostName, tcp.remoteAddress ?? socket.remoteAddress);
      if (refusal) socket.destroy(new DestinationNotAllowedError(refusal));
    });
    return socket;
  };
  return agent;
}

type ConnectOptions = http.ClientRequestArgs;
type CreateConnection = (
  options: ConnectOptions,
  callback?: (err: Error | null, socket?: Duplex) => void,
) => Duplex | null | undefined;

function classify(err: NodeJS.ErrnoException): AttemptResult {
  if (err instanceof DestinationNotAllowedError || err.code === 'EDESTINATIONNOTALLOWED') {
    return { kind: 'error', code: 'destinationNotAllowed', message: err.message };
  }
  if (err instanceof AttemptTimeoutError) return { kind: 'error', code: 'timeout', message: err.message };
  if (err.code === 'ENOTFOUND' || err.code === 'EAI_AGAIN') {
    return {
      kind: 'error',
      code: 'networkError',
      message: `DNS: ${err.code} for ${(err as { hostname?: string }).hostname ?? 'the host'}`,
    };
  }
  return {
    kind: 'error',
    code: 'networkError',
    message: err.code ? `${err.code}: ${err.message}` : err.message,
  };
}

function notFound(hostname: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND', hostname });
}

function header(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}
