import 'reflect-metadata';
import { exitAfterGrace } from '@app/config';
import { createWorkerApplication } from './worker.app';

// SIGTERM: Nest closes the BullMQ workers (no new jobs; running ones finish, each bounded by its provider's
// timeoutMs), then the directory connections and the database pool. Past the grace period the process exits
// anyway; a job still active then is returned by BullMQ's stalled check and fenced by its claim generation.
exitAfterGrace('worker');

createWorkerApplication().catch((e: Error) => {
  process.stderr.write(
    JSON.stringify({ level: 'error', msg: 'worker failed to start', error: e.message }) + '\n',
  );
  process.exit(1);
});
