import { redactUrl } from './redact-url';

describe('redactUrl', () => {
  it('hides query values and passwords, keeps what identifies the receiver', () => {
    expect(redactUrl('https://soar.example/hooks/x?token=abc&tenant=7')).toBe(
      'https://soar.example/hooks/x?token=***&tenant=***',
    );
    expect(redactUrl('https://user:pa55@soar.example:8443/h')).toBe('https://user:***@soar.example:8443/h');
    expect(redactUrl('https://soar.example/h?s3cr3t')).toBe('https://soar.example/h?***');
    expect(redactUrl('https://soar.example/h')).toBe('https://soar.example/h');
    expect(redactUrl('nonsense')).toBe('[invalid url]');
  });
});
