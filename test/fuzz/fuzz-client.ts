import { Agent, request as httpRequest } from 'node:http';

/** The doors of CONTRACT §5-§8, each with its own error shape. */
export type Door = 'native' | 'visionOne' | 'adaxes' | 'webhooks';
export const DOORS: readonly Door[] = ['native', 'visionOne', 'adaxes', 'webhooks'];

/** One request as it goes on the wire: the path is already encoded, headers may repeat, the body is bytes. */
export interface WireRequest {
  door: Door;
  method: string;
  path: string;
  headers: Array<[string, string]>;
  body?: Buffer;
}

export interface WireResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
  text: string;
  /** The body parsed as JSON; undefined when it is empty or not JSON. */
  json: unknown;
  ms: number;
}

/** Longest a single answer may take; the API answers every fuzz request at once (Adm-Wait is kept tiny). */
const ANSWER_TIMEOUT_MS = 15_000;

/**
 * A keep-alive HTTP/1.1 client that sends exactly what it is given (repeated headers, any bytes), counts
 * requests per door and keeps every answer's body when asked to (the secrets spec reads them all).
 */
export class FuzzClient {
  readonly counts: Record<Door, number> = { native: 0, visionOne: 0, adaxes: 0, webhooks: 0 };
  private readonly agent = new Agent({ keepAlive: true, maxSockets: 32 });
  private readonly host: string;
  private readonly port: number;
  /** Set to a function to see every exchange (the secrets spec keeps every response body). */
  onExchange: ((req: WireRequest, res: WireResponse) => void) | null = null;

  constructor(baseUrl: string) {
    const u = new URL(baseUrl);
    this.host = u.hostname;
    this.port = Number(u.port);
  }

  get total(): number {
    return DOORS.reduce((n, d) => n + this.counts[d], 0);
  }

  send(req: WireRequest): Promise<WireResponse> {
    this.counts[req.door]++;
    const headers: string[] = [];
    // Node's server refuses an HTTP/1.1 request without Host before any application code runs.
    if (!req.headers.some(([n]) => n.toLowerCase() === 'host'))
      headers.push('Host', `${this.host}:${this.port}`);
    for (const [name, value] of req.headers) headers.push(name, value);
    const chunked = req.headers.some(
      ([n, v]) => n.toLowerCase() === 'transfer-encoding' && /chunked/i.test(v),
    );
    if (req.body !== undefined && !chunked) headers.push('Content-Length', String(req.body.length));
    const started = Date.now();
    return new Promise<WireResponse>((resolve, reject) => {
      const r = httpRequest(
        {
          host: this.host,
          port: this.port,
          method: req.method,
          path: req.path,
          headers,
          agent: this.agent,
          setHost: false,
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('error', reject);
          res.on('end', () => {
            const body = Buffer.concat(chunks);
            const text = body.toString('utf8');
            let json: unknown;
            try {
              json = text ? JSON.parse(text) : undefined;
            } catch {
              json = undefined;
            }
            const out: WireResponse = {
              status: res.statusCode ?? 0,
              headers: res.headers,
              body,
              text,
              json,
              ms: Date.now() - started,
            };
            this.onExchange?.(req, out);
            resolve(out);
          });
        },
      );
      r.setTimeout(ANSWER_TIMEOUT_MS, () =>
        r.destroy(new Error(`no answer within ${ANSWER_TIMEOUT_MS} ms: ${describeRequest(req)}`)),
      );
      r.on('error', (e) => reject(new Error(`${e.message} (${describeRequest(req)})`)));
      if (req.body !== undefined && chunked) {
        // Two chunks, so the parser sees a real chunked body.
        const mid = Math.floor(req.body.length / 2);
        r.write(req.body.subarray(0, mid));
        r.end(req.body.subarray(mid));
      } else r.end(req.body);
    });
  }

  /** The requests sent so far per door, as one greppable line per door. */
  report(label: string): void {
    for (const door of DOORS) console.log(`fuzz requests [${label}] door=${door} count=${this.counts[door]}`);
    console.log(`fuzz requests [${label}] door=all count=${this.total}`);
  }

  close(): void {
    this.agent.destroy();
  }
}

/** A short, printable description of a request for failure messages (bodies cut to 300 bytes). */
export function describeRequest(req: WireRequest): string {
  const body =
    req.body === undefined
      ? ''
      : ` body(${req.body.length} B)=${JSON.stringify(req.body.subarray(0, 300).toString('latin1'))}`;
  const headers = req.headers.map(
    ([n, v]) => `${n}: ${v.length > 120 ? `${v.slice(0, 120)}…(${v.length})` : v}`,
  );
  const path = req.path.length > 300 ? `${req.path.slice(0, 300)}…(${req.path.length})` : req.path;
  return `${req.method} ${path} [${headers.join(' | ')}]${body}`;
}

export function describeResponse(res: WireResponse): string {
  const text = res.text.length > 500 ? `${res.text.slice(0, 500)}…` : res.text;
  return `${res.status} ${String(res.headers['content-type'] ?? '')} ${text}`;
}

// ---- the invariants every answer of every door keeps ----

/** Vision One's error codes (Trend's mock-up files; the engine's vision-one-errors.ts follows them). */
export const VISION_ONE_CODES = new Set([
  'BadRequest',
  'Unauthorized',
  'AccessDenied',
  'NotFound',
  'MethodNotAllowed',
  'Conflict',
  'RequestEntityTooLarge',
  'UnsupportedMediaType',
  'UnprocessableEntity',
  'TooManyRequests',
  'TaskError',
]);
const NATIVE_CODE = /^[a-z][A-Za-z0-9]*$/;

const isObject = (v: unknown): v is Record<string, unknown> =>
  v !== null && typeof v === 'object' && !Array.isArray(v);

/** What is wrong with an `{error: {code, message}}` envelope; `codeOk` says which codes the door uses. */
function envelopeProblems(json: unknown, codeOk: (code: string) => boolean): string[] {
  if (!isObject(json)) return ['error body is not a JSON object'];
  const keys = Object.keys(json);
  if (keys.length !== 1 || keys[0] !== 'error') return [`error body has top-level keys ${keys.join(',')}`];
  const e = json.error;
  if (!isObject(e)) return ['error is not an object'];
  const out: string[] = [];
  if (typeof e.code !== 'string' || !codeOk(e.code)) out.push(`error.code ${JSON.stringify(e.code)}`);
  if (typeof e.message !== 'string' || e.message.length === 0)
    out.push(`error.message ${JSON.stringify(e.message)}`);
  return out;
}

const visionOneEnvelope = (json: unknown) => envelopeProblems(json, (c) => VISION_ONE_CODES.has(c));
const nativeEnvelope = (json: unknown) => envelopeProblems(json, (c) => NATIVE_CODE.test(c));

/** One item of a Vision One 207 body: 202 with Operation-Location, or a 4xx with a Vision One error. */
function visionOneItemProblems(item: unknown, i: number): string[] {
  if (!isObject(item) || typeof item.status !== 'number') return [`207 item ${i} is not {status}`];
  if (item.status === 202) {
    const h = item.headers;
    const ok =
      Array.isArray(h) &&
      h.some((x) => isObject(x) && x.name === 'Operation-Location' && typeof x.value === 'string');
    return ok ? [] : [`207 item ${i}: 202 without Operation-Location`];
  }
  if (item.status >= 500) return [`207 item ${i}: status ${item.status}`];
  if (item.status < 400) return [`207 item ${i}: status ${item.status}`];
  return visionOneEnvelope(item.body).map((p) => `207 item ${i}: ${p}`);
}

/** One item of a native bulk answer (CONTRACT §5): 202 with a taskId, or a 4xx with the native error shape. */
function nativeItemProblems(item: unknown, i: number): string[] {
  if (!isObject(item) || typeof item.status !== 'number' || !('account' in item))
    return [`207 item ${i} is not {account, status}`];
  if (item.status === 202)
    return typeof item.taskId === 'string' ? [] : [`207 item ${i}: 202 without taskId`];
  if (item.status < 400 || item.status >= 500) return [`207 item ${i}: status ${item.status}`];
  return nativeEnvelope({ error: item.error }).map((p) => `207 item ${i}: ${p}`);
}

/**
 * Every answer: never a 5xx, always JSON (but for 204 and HEAD), on a 4xx the door's own error shape, and an
 * X-Request-Id. Success bodies are checked only as far as their shape goes; what they say is the business of
 * the other specs.
 */
export function problemsWith(req: WireRequest, res: WireResponse): string[] {
  const out: string[] = [];
  if (res.status >= 500) out.push(`status ${res.status}`);
  if (res.status < 200) out.push(`status ${res.status}`);
  // CONTRACT §10: every answer carries X-Request-Id, the caller's only when it is safe to echo.
  const requestId = res.headers['x-request-id'];
  if (typeof requestId !== 'string' || !/^[\x21-\x7e]{1,128}$/.test(requestId))
    out.push(`X-Request-Id ${JSON.stringify(requestId)}`);
  if (req.method === 'HEAD') return out;
  if (res.status === 204) {
    if (res.body.length) out.push('204 with a body');
    return out;
  }
  const type = String(res.headers['content-type'] ?? '');
  if (!/^application\/json(;|$)/i.test(type)) out.push(`content-type ${JSON.stringify(type)}`);
  if (res.json === undefined) {
    out.push('body is not JSON');
    return out;
  }
  if (res.status >= 400) {
    out.push(...(req.door === 'visionOne' ? visionOneEnvelope(res.json) : nativeEnvelope(res.json)));
    return out;
  }
  if (req.door === 'visionOne' && res.status === 207) {
    if (!Array.isArray(res.json)) out.push('207 body is not an array');
    else res.json.forEach((item, i) => out.push(...visionOneItemProblems(item, i)));
  }
  if (req.door === 'native' && res.status === 207) {
    const j = res.json as Record<string, unknown>;
    if (!isObject(j) || typeof j.batchId !== 'string' || !Array.isArray(j.items))
      out.push('207 body is not a batch');
    else j.items.forEach((item, i) => out.push(...nativeItemProblems(item, i)));
  }
  if (req.door === 'adaxes' && req.method === 'POST' && (res.status === 200 || res.status === 202)) {
    const j = res.json as Record<string, unknown>;
    const ok =
      res.status === 200
        ? isObject(j) && (j.resultType === 0 || j.resultType === 1) && Array.isArray(j.innerMessages)
        : isObject(j) && typeof j.operationId === 'string' && j.completed === false;
    if (!ok) out.push(`adaxes ${res.status} body is not an operation answer`);
  }
  return out;
}

/** A broken invariant: the request, the answer and what is wrong with it. */
export interface Violation {
  problems: string[];
  request: WireRequest;
  response: WireResponse;
}

export function formatViolation(v: Violation): string {
  return `broken invariant (${v.problems.join('; ')})\n  request:  ${describeRequest(v.request)}\n  response: ${describeResponse(v.response)}`;
}

/** Sends every request at once (the agent bounds the connections) and returns every broken invariant. */
export async function sendAll(
  client: FuzzClient,
  requests: WireRequest[],
  onAnswer?: (req: WireRequest, res: WireResponse) => void,
): Promise<Violation[]> {
  const answers = await Promise.all(requests.map((r) => client.send(r)));
  const violations: Violation[] = [];
  answers.forEach((response, i) => {
    const request = requests[i];
    const problems = problemsWith(request, response);
    if (problems.length) violations.push({ problems, request, response });
    onAnswer?.(request, response);
  });
  return violations;
}
