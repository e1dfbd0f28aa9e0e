import 'reflect-metadata';
import { createWorkerApplication } from './worker.app';

createWorkerApplication().catch((e: Error) => {
  process.stderr.write(
    JSON.stringify({ level: 'error', msg: 'worker failed to start', error: e.message }) + '\n',
  );
  process.exit(1);
});
