import { randomBytes } from 'node:crypto';
import { SecretBox } from './secret-box';

describe('SecretBox', () => {
  const key = randomBytes(32).toString('base64');
  const secret = 'whsec_' + randomBytes(32).toString('base64');

  it('seals with AES-256-GCM so the stored value reveals nothing, and opens it again', () => {
    const box = new SecretBox(key);
    const sealed = box.seal(secret, 'sub-1');
    expect(sealed).not.toContain(secret.slice(6));
    expect(sealed).toMatch(/^aes256gcm:/);
    expect(box.open(sealed, 'sub-1')).toBe(secret);
    expect(box.seal(secret, 'sub-1')).not.toBe(sealed); // a fresh IV each time
  });

  it('refuses a sealed value moved to another row, tampered with, or under another key', () => {
    const box = new SecretBox(key);
    const sealed = box.seal(secret, 'sub-1');
    expect(() => box.open(sealed, 'sub-2')).toThrow(/does not decrypt/);
    const parts = sealed.split(':');
    parts[3] = Buffer.from('x'.repeat(10)).toString('base64');
    expect(() => box.open(parts.join(':'), 'sub-1')).toThrow(/does not decrypt/);
    expect(() => new SecretBox(randomBytes(32).toString('base64')).open(sealed, 'sub-1')).toThrow(
      /another WEBHOOK_ENCRYPTION_KEY/,
    );
    expect(() => new SecretBox(null).open(sealed, 'sub-1')).toThrow(/not set/);
  });

  it('without a key stores the secret as is, and a key added later still reads those rows', () => {
    const plain = new SecretBox(null).seal(secret, 'sub-1');
    expect(plain).toBe('plain:' + secret);
    expect(new SecretBox(key).open(plain, 'sub-1')).toBe(secret);
  });
});
