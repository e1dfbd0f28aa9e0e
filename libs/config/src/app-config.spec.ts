import { loadAppConfig } from './app-config';

describe('loadAppConfig: the worker listener and the metrics token', () => {
  it('listens on 3001 by default, and WORKER_PORT=0 turns the listener off', () => {
    expect(loadAppConfig({}).workerPort).toBe(3001);
    expect(loadAppConfig({ WORKER_PORT: '0' }).workerPort).toBe(0);
    expect(loadAppConfig({ WORKER_PORT: '9101' }).workerPort).toBe(9101);
  });

  it.each(['65536', '-1', '30O1', '1.5'])('refuses WORKER_PORT=%s, naming the key', (port) => {
    expect(() => loadAppConfig({ WORKER_PORT: port })).toThrow(/^WORKER_PORT: /);
  });

  it('leaves /metrics open without METRICS_TOKEN, and refuses a weak one without echoing it', () => {
    expect(loadAppConfig({}).metricsToken).toBeNull();
    expect(loadAppConfig({ METRICS_TOKEN: '  0123456789abcdef  ' }).metricsToken).toBe('0123456789abcdef');
    for (const weak of ['short-token', 'has a space in it here'])
      expect(() => loadAppConfig({ METRICS_TOKEN: weak })).toThrow(
        expect.objectContaining({ message: expect.not.stringContaining(weak) }),
      );
  });
});
