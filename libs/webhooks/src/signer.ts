import { createHmac, randomBytes } from 'node:crypto';
import { isWhsecSecret } from '@app/config';

/**
 * Standard Webhooks v1 signatures (https://github.com/standard-webhooks/standard-webhooks, spec/standard-webhooks.md):
 * HMAC-SHA256, keyed with the base64-decoded part of `whsec_<base64>`, over `{webhook-id}.{webhook-timestamp}.{body}`.
 */

export const SECRET_PREFIX = 'whsec_';

/** 32 random bytes: inside the spec's 24-64, and the size of the HMAC-SHA256 block's natural key. */
export function generateSecret(): string {
  return SECRET_PREFIX + randomBytes(32).toString('base64');
}

export { isWhsecSecret };

/** The webhook-id header: the same for every attempt and every destination of one event's message. */
export const webhookId = (messageId: string) => `msg_${messageId.replace(/-/g, '')}`;

function keyOf(secret: string): Buffer {
  if (!isWhsecSecret(secret)) throw new Error('not a whsec_ secret');
  return Buffer.from(secret.slice(SECRET_PREFIX.length), 'base64');
}

export function signature(secret: string, msgId: string, timestampSeconds: number, body: string): string {
  const mac = createHmac('sha256', keyOf(secret)).update(`${msgId}.${timestampSeconds}.${body}`, 'utf8');
  return `v1,${mac.digest('base64')}`;
}

/**
 * The `webhook-signature` header: one `v1,` signature per secret, space-separated, so that a receiver holding
 * either the old or the new secret verifies during a rotation.
 */
export function signatureHeader(
  secrets: readonly string[],
  msgId: string,
  timestampSeconds: number,
  body: string,
): string {
  if (secrets.length === 0) throw new Error('no signing secret');
  return secrets.map((s) => signature(s, msgId, timestampSeconds, body)).join(' ');
}

export interface SignedHeaders {
  'webhook-id': string;
  'webhook-timestamp': string;
  'webhook-signature': string;
}

export function signedHeaders(
  secrets: readonly string[],
  msgId: string,
  body: string,
  now: Date = new Date(),
): SignedHeaders {
  const ts = Math.floor(now.getTime() / 1000);
  return {
    'webhook-id': msgId,
    'webhook-timestamp': String(ts),
    'webhook-signature': signatureHeader(secrets, msgId, ts, body),
  };
}
