import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { badRequest } from '@app/domain';

// These classes document the API (OpenAPI); the rules themselves are checked by TaskService so that every
// door answers the same mistake the same way.

export class DisableAccountBody {
  @ApiProperty({
    example: 'jdoe@corp.example',
    description:
      'UPN, mail, DOMAIN\\name, sAMAccountName/uid/login, DN, GUID, SID, Okta id or Entra object id',
  })
  account!: string;
  @ApiPropertyOptional({ maxLength: 2000 })
  description?: string;
  @ApiPropertyOptional({
    type: [String],
    description: 'Provider ids to act in; default: every configured provider',
  })
  providers?: string[];
  @ApiPropertyOptional({ example: 'https://soar.example/hooks/task' })
  callbackUrl?: string;
}

export class EnableAccountBody {
  @ApiProperty({ example: 'jdoe@corp.example' })
  account!: string;
  @ApiPropertyOptional({ maxLength: 2000 })
  description?: string;
  @ApiPropertyOptional()
  callbackUrl?: string;
}

export class EnableFromDisableBody {
  @ApiPropertyOptional({ maxLength: 2000 })
  description?: string;
  @ApiPropertyOptional()
  callbackUrl?: string;
}

/** Rejects anything but a JSON object with known keys, before any work is done. */
export function checkBody(body: unknown, allowed: readonly string[]): Record<string, unknown> {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw badRequest(
      'invalidBody',
      'The request body must be a JSON object (Content-Type: application/json).',
    );
  }
  const unknown = Object.keys(body).filter((k) => !allowed.includes(k));
  if (unknown.length)
    throw badRequest(
      'invalidBody',
      `Unknown field(s): ${unknown.join(', ')}. Allowed: ${allowed.join(', ')}.`,
    );
  return body as Record<string, unknown>;
}
