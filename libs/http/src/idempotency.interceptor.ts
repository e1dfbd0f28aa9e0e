import { createHash } from 'node:crypto';
import { CallHandler, ExecutionContext, Injectable, NestInterceptor } from '@nestjs/common';
import type { Request, Response } from 'express';
import { from, lastValueFrom, Observable } from 'rxjs';
import { badRequest, DomainError } from '@app/domain';
import { IdempotencyStore } from '@app/persistence';
import type { AuthenticatedRequest } from '@app/auth';
import { isDryRun } from './dry-run';

const REPLAYED_HEADERS = ['location', 'operation-location'];

/**
 * `Idempotency-Key` on POSTs (CONTRACT §5; IETF draft-ietf-httpapi-idempotency-key-header): the same key
 * and body replays the first response; the same key with another body is 422; a retry while the first is
 * still running is 409. Keys are scoped to the API key. A request that fails (4xx/5xx) stores nothing, so
 * the client may fix it and retry with the same key.
 */
@Injectable()
export class IdempotencyInterceptor implements NestInterceptor {
  constructor(private readonly store: IdempotencyStore) {}

  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    const req = context.switchToHttp().getRequest<Request & AuthenticatedRequest>();
    const raw = req.headers['idempotency-key'];
    // A dry run creates nothing, so there is nothing to replay: its answer is not stored (CONTRACT §5).
    if (req.method !== 'POST' || raw === undefined || isDryRun(req.query)) return next.handle();
    return from(this.run(req, context.switchToHttp().getResponse<Response>(), raw, next));
  }

  private async run(
    req: Request & AuthenticatedRequest,
    res: Response,
    raw: string | string[],
    next: CallHandler,
  ) {
    const key = parseKey(raw);
    const owner = req.principal?.name ?? 'anonymous';
    const hash = requestFingerprint(req.method, req.originalUrl.split('?')[0], req.body);
    const claim = await this.store.claim(owner, key, hash);
    if (claim.kind === 'mismatch') {
      throw new DomainError(
        422,
        'idempotencyKeyReused',
        'This Idempotency-Key was used with a different request.',
      );
    }
    if (claim.kind === 'inProgress') {
      res.setHeader('Retry-After', '1');
      throw new DomainError(
        409,
        'idempotencyKeyInProgress',
        'A request with this Idempotency-Key is still running.',
      );
    }
    if (claim.kind === 'replay') {
      res.status(claim.response.status);
      for (const [name, value] of Object.entries(claim.response.headers)) res.setHeader(name, value);
      res.setHeader('Idempotent-Replayed', 'true');
      return claim.response.body;
    }
    try {
      const body = await lastValueFrom(next.handle(), { defaultValue: undefined });
      const headers: Record<string, string> = {};
      for (const name of REPLAYED_HEADERS) {
        const v = res.getHeader(name);
        if (typeof v === 'string') headers[name] = v;
      }
      await this.store.complete(owner, key, { status: res.statusCode, headers, body });
      return body;
    } catch (e) {
      await this.store.release(owner, key);
      throw e;
    }
  }
}

/** What "the same request" means for a key: method, path and body, whatever order the body's keys come in. */
export function requestFingerprint(method: string, path: string, body: unknown): string {
  return createHash('sha256')
    .update(`${method} ${path}\n${canonicalJson(body ?? null)}`)
    .digest('hex');
}

/** Deeper than any body a door accepts; a deeper one is refused before it can exhaust the stack. */
const MAX_BODY_DEPTH = 64;

/** JSON with object keys sorted at every depth: `{"a":1,"b":2}` and `{"b":2,"a":1}` are one request. */
export function canonicalJson(value: unknown, depth = 0): string {
  if (depth > MAX_BODY_DEPTH)
    throw badRequest('invalidBody', `The request body is nested deeper than ${MAX_BODY_DEPTH} levels.`);
  if (Array.isArray(value)) return `[${value.map((v) => canonicalJson(v, depth + 1)).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.keys(value)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonicalJson((value as Record<string, unknown>)[k], depth + 1)}`);
    return `{${entries.join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

function parseKey(raw: string | string[]): string {
  if (Array.isArray(raw)) throw badRequest('invalidIdempotencyKey', 'Send one Idempotency-Key header.');
  // The draft makes the header a Structured Field string ("…"); a bare token is accepted too.
  const key = raw.trim().replace(/^"(.*)"$/, '$1');
  if (key.length === 0 || key.length > 255 || !/^[\x21-\x7e]+$/.test(key)) {
    throw badRequest('invalidIdempotencyKey', 'Idempotency-Key must be 1-255 visible ASCII characters.');
  }
  return key;
}
