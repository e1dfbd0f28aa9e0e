import { createHash, randomBytes } from 'node:crypto';
import { Injectable } from '@nestjs/common';
import { badRequest, conflict, parseRateLimit, RateLimit } from '@app/domain';
import { ApiKeyEntity, ApiKeyStore } from '@app/persistence';
import { Scope, SCOPES } from './scopes';

export interface Principal {
  keyId: string;
  name: string;
  scopes: string[];
}

const KEY_PREFIX = 'are_';
/**
 * The blast-radius limit a key without `admin` gets unless its creator says otherwise: enough for a bad day,
 * not enough for a runaway playbook to disable the whole company.
 */
export const DEFAULT_DISABLE_LIMIT = '500/1h';
const NAME = /^[A-Za-z0-9._-]{1,64}$/;
/**
 * Creators and actors the engine records for itself (the CLI's tasks, the worker's and the engine's events): a
 * key by one of these names could not be told from them in a task's createdBy or its timeline.
 */
export const RESERVED_KEY_NAMES = ['cli', 'worker', 'engine'];

/**
 * API keys are 256-bit random strings, so a plain SHA-256 is enough to make the stored hash useless to a
 * thief (no dictionary to try) while keeping the per-request check to one indexed lookup.
 */
export function hashApiKey(key: string): string {
  return createHash('sha256').update(key, 'utf8').digest('hex');
}

@Injectable()
export class ApiKeyService {
  constructor(private readonly store: ApiKeyStore) {}

  /**
   * Returns the key itself: shown once, never stored. `disableLimit` ('1000/1h', or 'none'): how many Disable
   * tasks the key may create per window; by default DEFAULT_DISABLE_LIMIT without `admin`, none with it.
   */
  async create(
    name: string,
    scopes: string[],
    options: { disableLimit?: string } = {},
  ): Promise<{ key: string; entity: ApiKeyEntity }> {
    if (!NAME.test(name))
      throw badRequest('invalidName', 'name must be 1-64 characters of A-Z a-z 0-9 . _ -');
    if (RESERVED_KEY_NAMES.includes(name.toLowerCase()))
      throw badRequest(
        'invalidName',
        `${name} is reserved for the engine's own records; choose another name`,
      );
    const unknown = scopes.filter((s) => !SCOPES.includes(s as Scope));
    if (scopes.length === 0 || unknown.length) {
      throw badRequest('invalidScopes', `scopes must be a non-empty list from: ${SCOPES.join(', ')}`);
    }
    if (await this.store.findByName(name))
      throw conflict('nameTaken', `An API key named ${name} already exists.`);
    const spec = options.disableLimit ?? (scopes.includes('admin') ? 'none' : DEFAULT_DISABLE_LIMIT);
    const limit: RateLimit | null = spec === 'none' ? null : parseRateLimit(spec, 'disable limit');
    const key = KEY_PREFIX + randomBytes(32).toString('base64url');
    const entity = await this.store.insert({
      name,
      keyPrefix: key.slice(0, 12),
      keyHash: hashApiKey(key),
      scopes,
      disableLimit: limit?.max ?? null,
      disableWindowSeconds: limit?.windowSeconds ?? null,
    });
    return { key, entity };
  }

  list(): Promise<ApiKeyEntity[]> {
    return this.store.list();
  }

  revoke(name: string): Promise<boolean> {
    return this.store.revoke(name);
  }

  async verify(key: string): Promise<Principal | null> {
    if (!key.startsWith(KEY_PREFIX) || key.length > 200) return null;
    const entity = await this.store.findActiveByHash(hashApiKey(key));
    if (!entity) return null;
    void this.store.touch(entity.id).catch(() => undefined);
    return { keyId: entity.id, name: entity.name, scopes: entity.scopes };
  }
}
