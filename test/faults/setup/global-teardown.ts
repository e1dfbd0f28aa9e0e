import { existsSync } from 'node:fs';
import { cleanUpNow } from './cleanup';

/**
 * Specs stop what they start in afterAll, and each test process kills its children on exit. This is the last
 * net: whatever a failed or crashed spec recorded and left running (API or worker groups, slapd, a private
 * PostgreSQL, temp directories) is ended here, so that nothing holds CI open or keeps a port.
 */
export default async function globalTeardown(): Promise<void> {
  const dir = process.env.FAULTS_RUN_DIR;
  if (dir && existsSync(dir)) cleanUpNow(dir);
}
