import { Webhook } from 'standardwebhooks';
import { generateSecret, isWhsecSecret, signature, signedHeaders } from './signer';

describe('Standard Webhooks signer', () => {
  it('reproduces the specification test vector', () => {
    // spec/standard-webhooks.md's example, also the reference libraries' test vector.
    expect(
      signature(
        'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw',
        'msg_p5jXN8AQM9LWM0D4loKWxJek',
        1614265330,
        '{"test": 2432232314}',
      ),
    ).toBe('v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=');
  });

  it('generates whsec_ secrets of 32 random bytes', () => {
    const a = generateSecret();
    expect(a).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
    expect(Buffer.from(a.slice(6), 'base64')).toHaveLength(32);
    expect(isWhsecSecret(a)).toBe(true);
    expect(generateSecret()).not.toBe(a);
  });

  it('accepts 24 to 64 bytes only', () => {
    expect(isWhsecSecret('whsec_' + Buffer.alloc(23).toString('base64'))).toBe(false);
    expect(isWhsecSecret('whsec_' + Buffer.alloc(24).toString('base64'))).toBe(true);
    expect(isWhsecSecret('whsec_' + Buffer.alloc(64).toString('base64'))).toBe(true);
    expect(isWhsecSecret('whsec_' + Buffer.alloc(65).toString('base64'))).toBe(false);
    expect(isWhsecSecret(Buffer.alloc(32).toString('base64'))).toBe(false);
    expect(isWhsecSecret('whsec_not base64!')).toBe(false);
  });

  it('signs with every secret given, each verifiable on its own by the standardwebhooks library', () => {
    const oldSecret = generateSecret();
    const newSecret = generateSecret();
    const body = JSON.stringify({
      type: 'task.completed',
      timestamp: new Date().toISOString(),
      data: { id: 'x' },
    });
    const headers = signedHeaders([newSecret, oldSecret], 'msg_1', body);
    expect(headers['webhook-signature'].split(' ')).toHaveLength(2);
    for (const s of [oldSecret, newSecret])
      expect(new Webhook(s).verify(body, { ...headers })).toEqual(JSON.parse(body));
    expect(() => new Webhook(generateSecret()).verify(body, { ...headers })).toThrow(/No matching signature/);
  });
});
