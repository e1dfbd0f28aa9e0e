import { CanActivate, ExecutionContext, Injectable, SetMetadata } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { DomainError } from '@app/domain';
import { ApiKeyService, Principal } from './api-key.service';
import { RequestRateLimiter } from './request-rate-limiter';
import { hasScope, Scope } from './scopes';

const SCOPE_KEY = 'requiredScope';
export const RequireScope = (scope: Scope) => SetMetadata(SCOPE_KEY, scope);

export interface AuthenticatedRequest {
  headers: Record<string, string | string[] | undefined>;
  principal?: Principal;
}

/**
 * `Authorization: Bearer <key>` (native and Vision One-style doors) or `Adm-Authorization: <key>`
 * (Adaxes-style door). Missing or bad key: 401. Valid key without the scope: 403.
 */
@Injectable()
export class ApiKeyGuard implements CanActivate {
  constructor(
    private readonly keys: ApiKeyService,
    private readonly reflector: Reflector,
    private readonly limiter: RequestRateLimiter,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const scope = this.reflector.getAllAndOverride<Scope | undefined>(SCOPE_KEY, [
      context.getHandler(),
      context.getClass(),
    ]);
    if (!scope) return true;
    const req = context.switchToHttp().getRequest<AuthenticatedRequest>();
    const key = extractKey(req.headers);
    if (!key)
      throw new DomainError(401, 'unauthorized', 'An API key is required (Authorization: Bearer <key>).');
    const principal = await this.keys.verify(key);
    if (!principal)
      throw new DomainError(401, 'unauthorized', 'The API key is not valid or has been revoked.');
    if (!hasScope(principal.scopes, scope)) {
      throw new DomainError(403, 'forbidden', `The API key lacks the ${scope} scope.`);
    }
    const limited = await this.limiter.check(principal.keyId);
    if (limited) {
      throw new DomainError(
        429,
        'rateLimited',
        `API key ${principal.name} may make at most ${limited.limit} requests; retry after ${limited.retryAfterSeconds} s.`,
        limited,
      );
    }
    req.principal = principal;
    return true;
  }
}

function extractKey(headers: AuthenticatedRequest['headers']): string | null {
  const adm = headers['adm-authorization'];
  if (typeof adm === 'string' && adm.trim()) return adm.trim();
  const auth = headers.authorization;
  if (typeof auth !== 'string') return null;
  const m = /^Bearer\s+(\S+)$/i.exec(auth.trim());
  return m ? m[1] : null;
}
