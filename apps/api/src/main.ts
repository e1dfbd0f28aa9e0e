import 'reflect-metadata';
import { exitAfterGrace, loadAppConfig } from '@app/config';
import { createApiApplication } from './api.app';

// SIGTERM: /health/ready answers 503 at once, in-flight requests finish, then the server closes.
exitAfterGrace('api');

async function main(): Promise<void> {
  const config = loadAppConfig();
  const app = await createApiApplication(config);
  await app.listen(config.port, process.env.HOST || '0.0.0.0');
}

main().catch((e: Error) => {
  process.stderr.write(
    JSON.stringify({ level: 'error', msg: 'api failed to start', error: e.message }) + '\n',
  );
  process.exit(1);
});
