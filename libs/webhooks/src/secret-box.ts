import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';

/** The sealed secret cannot be opened here (no key, another key, or tampered with). */
export class SecretUnavailableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SecretUnavailableError';
  }
}

const SEALED = /^aes256gcm:([0-9a-f]{8}):([A-Za-z0-9+/=]+):([A-Za-z0-9+/=]+):([A-Za-z0-9+/=]+)$/;
const PLAIN = 'plain:';

/**
 * A subscription's secret is an HMAC key: the engine must read it back to sign, so it cannot be hashed like
 * an API key. With WEBHOOK_ENCRYPTION_KEY set it is sealed with AES-256-GCM, bound (as associated data) to
 * its subscription's id so a sealed value copied onto another row does not open; a database dump or backup
 * alone then reveals nothing. Without the key it is stored as is, protected only by database access control,
 * and the API says so in its log at start-up.
 */
export class SecretBox {
  private readonly key: Buffer | null;
  /** Names the key in each sealed value, so that a changed key is reported as such and not as tampering. */
  private readonly keyId: string | null;

  constructor(keyBase64: string | null) {
    this.key = keyBase64 ? Buffer.from(keyBase64, 'base64') : null;
    if (this.key && this.key.length !== 32) throw new Error('WEBHOOK_ENCRYPTION_KEY must hold 32 bytes');
    this.keyId = this.key ? createHash('sha256').update(this.key).digest('hex').slice(0, 8) : null;
  }

  get encrypts(): boolean {
    return this.key !== null;
  }

  seal(secret: string, boundTo: string): string {
    if (!this.key) return PLAIN + secret;
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.key, iv);
    cipher.setAAD(Buffer.from(boundTo, 'utf8'));
    const ct = Buffer.concat([cipher.update(secret, 'utf8'), cipher.final()]);
    return [
      'aes256gcm',
      this.keyId,
      iv.toString('base64'),
      ct.toString('base64'),
      cipher.getAuthTag().toString('base64'),
    ].join(':');
  }

  open(sealed: string, boundTo: string): string {
    if (sealed.startsWith(PLAIN)) return sealed.slice(PLAIN.length);
    const m = SEALED.exec(sealed);
    if (!m) throw new SecretUnavailableError('the stored secret has an unknown format');
    if (!this.key)
      throw new SecretUnavailableError('the secret is encrypted but WEBHOOK_ENCRYPTION_KEY is not set');
    if (m[1] !== this.keyId)
      throw new SecretUnavailableError('the secret was encrypted with another WEBHOOK_ENCRYPTION_KEY');
    try {
      const decipher = createDecipheriv('aes-256-gcm', this.key, Buffer.from(m[2], 'base64'));
      decipher.setAAD(Buffer.from(boundTo, 'utf8'));
      decipher.setAuthTag(Buffer.from(m[4], 'base64'));
      return Buffer.concat([decipher.update(Buffer.from(m[3], 'base64')), decipher.final()]).toString('utf8');
    } catch {
      throw new SecretUnavailableError(
        'the stored secret does not decrypt (tampered with, or not this row’s)',
      );
    }
  }
}
