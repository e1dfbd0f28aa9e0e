import { ConfigError, loadWebhookConfig } from '@app/config';

describe('webhook settings from the environment', () => {
  it('defaults to refusing private targets, a 15 s timeout and no callback secret', () => {
    expect(loadWebhookConfig({})).toMatchObject({
      allowPrivate: false,
      allowedHosts: [],
      timeoutMs: 15_000,
      callbackSecrets: [],
      encryptionKey: null,
    });
  });

  it('reads every setting', () => {
    const key = Buffer.alloc(32, 1).toString('base64');
    const secret = 'whsec_' + Buffer.alloc(32, 2).toString('base64');
    const old = 'whsec_' + Buffer.alloc(24, 3).toString('base64');
    expect(
      loadWebhookConfig({
        WEBHOOK_ALLOW_PRIVATE: 'true',
        WEBHOOK_ALLOWED_HOSTS: 'Soar.Corp.Example, 10.0.0.0/8',
        WEBHOOK_TIMEOUT_MS: '5000',
        WEBHOOK_RETRY_SCHEDULE: '500ms,5s,1m,2h,1000',
        WEBHOOK_CALLBACK_SECRET: `${secret} ${old}`,
        WEBHOOK_ENCRYPTION_KEY: key,
      }),
    ).toMatchObject({
      allowPrivate: true,
      allowedHosts: ['soar.corp.example', '10.0.0.0/8'],
      timeoutMs: 5000,
      retryScheduleMs: [500, 5_000, 60_000, 7_200_000, 1000],
      callbackSecrets: [secret, old],
      encryptionKey: key,
    });
  });

  it('names the key of a bad value, and never echoes a secret', () => {
    expect(() => loadWebhookConfig({ WEBHOOK_ALLOW_PRIVATE: 'yes' })).toThrow(/WEBHOOK_ALLOW_PRIVATE/);
    expect(() => loadWebhookConfig({ WEBHOOK_RETRY_SCHEDULE: '5s,soon' })).toThrow(/WEBHOOK_RETRY_SCHEDULE/);
    expect(() => loadWebhookConfig({ WEBHOOK_ENCRYPTION_KEY: 'short' })).toThrow(/WEBHOOK_ENCRYPTION_KEY/);
    let error: unknown;
    try {
      loadWebhookConfig({ WEBHOOK_CALLBACK_SECRET: 'whsec_tooShortButSecret' });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as Error).message).toMatch(/WEBHOOK_CALLBACK_SECRET/);
    expect((error as Error).message).not.toContain('tooShortButSecret');
  });
});
