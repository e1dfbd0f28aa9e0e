import { CanActivate, ExecutionContext, Injectable } from '@nestjs/common';
import type { AuthenticatedRequest } from '@app/auth';
import { DomainError } from '@app/domain';

/**
 * CONTRACT §3: this door takes its key in `Adm-Authorization`, as Adaxes does. `ApiKeyGuard` would also take
 * `Authorization: Bearer`, so a request without `Adm-Authorization` is refused here first; a client that
 * works against this door then works against Adaxes too, and the other way round.
 */
@Injectable()
export class AdmAuthorizationGuard implements CanActivate {
  canActivate(context: ExecutionContext): boolean {
    const value = context.switchToHttp().getRequest<AuthenticatedRequest>().headers['adm-authorization'];
    if (typeof value !== 'string' || !value.trim()) {
      throw new DomainError(401, 'unauthorized', 'An API key is required in the Adm-Authorization header.');
    }
    return true;
  }
}
