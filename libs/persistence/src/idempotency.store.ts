import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';

export interface StoredResponse {
  status: number;
  headers: Record<string, string>;
  body: unknown;
}

export type IdempotencyClaim =
  | { kind: 'claimed' }
  | { kind: 'replay'; response: StoredResponse }
  | { kind: 'inProgress' }
  | { kind: 'mismatch' };

/**
 * `Idempotency-Key` records (CONTRACT §5, after the IETF draft and Stripe): scoped to the API key, kept for
 * 24 hours, claimed with an INSERT so two concurrent requests with one key cannot both run.
 */
@Injectable()
export class IdempotencyStore {
  static readonly TTL_HOURS = 24;
  /**
   * A claim is a lease: creating a task takes well under a second, so a claim still `inProgress` after this
   * long belongs to a request whose process died; the key is free again rather than stuck for 24 hours.
   */
  static readonly CLAIM_LEASE_SECONDS = 60;

  constructor(private readonly dataSource: DataSource) {}

  async claim(apiKeyName: string, key: string, requestHash: string): Promise<IdempotencyClaim> {
    await this.dataSource.query(
      `DELETE FROM idempotency_keys WHERE api_key_name = $1 AND key = $2
          AND (expires_at < now() OR (state = 'inProgress' AND created_at < now() - ($3 || ' seconds')::interval))`,
      [apiKeyName, key, String(IdempotencyStore.CLAIM_LEASE_SECONDS)],
    );
    const inserted: unknown[] = await this.dataSource.query(
      `INSERT INTO idempotency_keys (api_key_name, key, request_hash, state, expires_at)
       VALUES ($1, $2, $3, 'inProgress', now() + interval '${IdempotencyStore.TTL_HOURS} hours')
       ON CONFLICT DO NOTHING RETURNING key`,
      [apiKeyName, key, requestHash],
    );
    if (inserted.length > 0) return { kind: 'claimed' };
    const [row]: Array<{
      request_hash: string;
      state: string;
      response_status: number;
      response_headers: Record<string, string>;
      response_body: unknown;
    }> = await this.dataSource.query(
      `SELECT request_hash, state, response_status, response_headers, response_body
         FROM idempotency_keys WHERE api_key_name = $1 AND key = $2`,
      [apiKeyName, key],
    );
    if (!row) return this.claim(apiKeyName, key, requestHash);
    if (row.request_hash !== requestHash) return { kind: 'mismatch' };
    if (row.state !== 'completed') return { kind: 'inProgress' };
    return {
      kind: 'replay',
      response: { status: row.response_status, headers: row.response_headers, body: row.response_body },
    };
  }

  async complete(apiKeyName: string, key: string, response: StoredResponse): Promise<void> {
    await this.dataSource.query(
      `UPDATE idempotency_keys SET state = 'completed', response_status = $3, response_headers = $4, response_body = $5
        WHERE api_key_name = $1 AND key = $2`,
      [
        apiKeyName,
        key,
        response.status,
        JSON.stringify(response.headers),
        JSON.stringify(response.body ?? null),
      ],
    );
  }

  /** Deletes records past their 24 hours, a batch at a time (the worker's reconciler calls it each pass). */
  async sweepExpired(batch = 1000): Promise<number> {
    const rows: unknown = await this.dataSource.query(
      `DELETE FROM idempotency_keys WHERE ctid IN (SELECT ctid FROM idempotency_keys WHERE expires_at < now() LIMIT $1)`,
      [batch],
    );
    // TypeORM answers DELETE with [rows, count].
    return Array.isArray(rows) && typeof rows[1] === 'number' ? rows[1] : 0;
  }

  /** Nothing is stored for a request that failed validation or conflicted: the key may be used again. */
  async release(apiKeyName: string, key: string): Promise<void> {
    await this.dataSource.query(
      `DELETE FROM idempotency_keys WHERE api_key_name = $1 AND key = $2 AND state = 'inProgress'`,
      [apiKeyName, key],
    );
  }
}
