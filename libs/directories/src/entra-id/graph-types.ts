/** One Graph request, with a url relative to the version root (`/users/{id}`), as in a JSON batch item. */
export interface GraphRequest {
  method: 'GET' | 'PATCH' | 'POST';
  url: string;
  body?: unknown;
}

/** Graph's answer to one request, whether it came back on its own or as an item of a $batch. */
export interface GraphResponse {
  status: number;
  /** Header names lower-cased. */
  headers: Record<string, string>;
  body: unknown;
}

/** Graph's error body: {"error": {"code", "message", "innerError": {"date", "request-id", "client-request-id"}}}. */
export interface GraphErrorBody {
  error?: { code?: string; message?: string; innerError?: Record<string, string> };
}

export function graphErrorOf(res: GraphResponse): { code: string; message: string; requestId?: string } {
  const e = (res.body as GraphErrorBody | undefined)?.error;
  return {
    code: e?.code || `HTTP${res.status}`,
    message: e?.message || `HTTP ${res.status}`,
    requestId: e?.innerError?.['request-id'] ?? res.headers['request-id'],
  };
}

export function lowerCaseHeaders(h: Record<string, string> | Headers | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  if (!h) return out;
  const entries = h instanceof Headers ? [...h.entries()] : Object.entries(h);
  for (const [k, v] of entries) out[k.toLowerCase()] = String(v);
  return out;
}
