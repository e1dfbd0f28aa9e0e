import { healthPort } from './main';

describe('healthPort', () => {
  const api = ['node -r tsconfig-paths/register dist/apps/api/src/main.js '];
  const worker = ['node -r tsconfig-paths/register dist/apps/worker/src/main.js '];

  it("asks the API on PORT and the worker on WORKER_PORT, with the processes' defaults", () => {
    expect(healthPort({}, api)).toBe(3000);
    expect(healthPort({ PORT: '8080' }, api)).toBe(8080);
    expect(healthPort({}, worker)).toBe(3001);
    expect(healthPort({ PORT: '8080', WORKER_PORT: '9001' }, worker)).toBe(9001);
  });

  it('has nothing to ask when the worker listener is off, and obeys HEALTHCHECK_PORT', () => {
    expect(healthPort({ WORKER_PORT: '0' }, worker)).toBeNull();
    expect(healthPort({ HEALTHCHECK_PORT: '7000' }, worker)).toBe(7000);
  });
});
