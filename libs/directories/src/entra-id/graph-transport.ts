import { randomUUID } from 'node:crypto';
import { DirectoryError, DirectoryErrorCodes, permanentError, transientError } from '../directory-error';
import { GraphRequest, GraphResponse, lowerCaseHeaders } from './graph-types';
import { EntraTokenProvider } from './token-provider';

export const MAX_BATCH_SIZE = 20;

/**
 * HTTPS to Graph v1.0 with the app's bearer token. Every HTTP answer comes back as a GraphResponse (status
 * mapping is the adapter's job); only failures to get an answer at all (network, TLS, timeout) throw, as
 * transient DirectoryErrors.
 */
export class GraphTransport {
  private readonly root: string;

  constructor(
    graphBaseUrl: string,
    private readonly tokens: EntraTokenProvider,
    private readonly timeoutMs: number,
  ) {
    this.root = `${graphBaseUrl}/v1.0`;
  }

  async send(req: GraphRequest): Promise<GraphResponse> {
    const token = await this.tokens.getToken();
    const res = await this.fetch(req.method, req.url, token, req.body);
    if (res.status === 401) this.tokens.invalidate(token);
    return res;
  }

  /** POST /$batch; answers in request order. A non-200 answer to the batch itself applies to every item. */
  async sendBatch(reqs: GraphRequest[]): Promise<GraphResponse[]> {
    if (reqs.length > MAX_BATCH_SIZE)
      throw new Error(`a Graph batch holds at most ${MAX_BATCH_SIZE} requests`);
    const token = await this.tokens.getToken();
    const requests = reqs.map((r, i) => ({
      id: String(i + 1),
      method: r.method,
      url: r.url,
      ...(r.body === undefined ? {} : { body: r.body, headers: { 'Content-Type': 'application/json' } }),
    }));
    const res = await this.fetch('POST', '/$batch', token, { requests });
    if (res.status === 401) this.tokens.invalidate(token);
    if (res.status !== 200) return reqs.map(() => res);
    const responses = (
      res.body as {
        responses?: Array<{ id: string; status: number; headers?: Record<string, string>; body?: unknown }>;
      }
    )?.responses;
    if (!Array.isArray(responses)) {
      throw transientError('graphBadResponse', 'Graph answered a $batch without a responses array');
    }
    // Items may come back in any order; the id ties each to its request.
    const byId = new Map(responses.map((r) => [String(r.id), r]));
    return requests.map((r) => {
      const item = byId.get(r.id);
      if (!item)
        return {
          status: 502,
          headers: {},
          body: { error: { code: 'missingBatchItem', message: `Graph's $batch answer lacks item ${r.id}` } },
        };
      return { status: item.status, headers: lowerCaseHeaders(item.headers), body: item.body };
    });
  }

  private async fetch(method: string, url: string, token: string, body: unknown): Promise<GraphResponse> {
    let response: Response;
    try {
      response = await fetch(`${this.root}${url}`, {
        method,
        headers: {
          Authorization: `Bearer ${token}`,
          Accept: 'application/json',
          // Graph echoes it in innerError and its logs: quoting it to Microsoft support finds the request.
          'client-request-id': randomUUID(),
          ...(body === undefined ? {} : { 'Content-Type': 'application/json' }),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(this.timeoutMs),
      });
    } catch (e) {
      throw networkError(e, this.timeoutMs);
    }
    let text: string;
    try {
      text = await response.text();
    } catch (e) {
      throw networkError(e, this.timeoutMs);
    }
    let parsed: unknown = undefined;
    if (text) {
      try {
        parsed = JSON.parse(text);
      } catch {
        parsed = { error: { code: `HTTP${response.status}`, message: text.slice(0, 200) } };
      }
    }
    return { status: response.status, headers: lowerCaseHeaders(response.headers), body: parsed };
  }
}

function networkError(e: unknown, timeoutMs: number): DirectoryError {
  const err = e as Error & { cause?: { code?: string; message?: string } };
  if (err?.name === 'TimeoutError' || err?.name === 'AbortError') {
    return transientError(
      DirectoryErrorCodes.timeout,
      `Microsoft Graph did not answer within ${timeoutMs} ms`,
    );
  }
  const code = err?.cause?.code ?? '';
  if (/CERT|SSL|TLS|SELF_SIGNED|UNABLE_TO_VERIFY/i.test(code)) {
    // As for the LDAP directories: a certificate problem needs an operator, not a retry.
    return permanentError(
      DirectoryErrorCodes.tlsError,
      `TLS certificate problem talking to Microsoft Graph: ${code}`,
    );
  }
  return transientError(
    DirectoryErrorCodes.unreachable,
    `cannot reach Microsoft Graph: ${code || err?.cause?.message || err?.message || String(e)}`,
  );
}
