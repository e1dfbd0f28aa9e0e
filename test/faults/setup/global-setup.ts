import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildIfStale } from '../harness/processes';
import { startWatchdog } from './cleanup';

/**
 * The fault suite runs the built processes, so `dist` must match the sources: build when any compiled entry
 * point is missing or older than a source or build setting (after `npm test`, whose pretest builds, it is not).
 * Also makes the run directory where processes and clusters are recorded for the teardown, and starts the
 * watchdog that cleans up after a jest that dies without its teardown.
 */
export default async function globalSetup(): Promise<void> {
  if (!existsSync('/usr/sbin/slapd')) {
    throw new Error('the fault suite needs slapd: apt-get install -y slapd ldap-utils');
  }
  buildIfStale('faults');
  process.env.FAULTS_RUN_DIR = mkdtempSync(join(tmpdir(), 'are-faults-run-'));
  startWatchdog(process.env.FAULTS_RUN_DIR);
}
