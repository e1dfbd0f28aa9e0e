import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * A test certificate authority and one server certificate for 127.0.0.1/localhost, kept in a fixed directory so
 * that NODE_EXTRA_CA_CERTS (read by Node only when a process starts) can name it before the CA exists in this run,
 * and so that every emulator started on this machine chains to the same root.
 */
export interface TestCa {
  dir: string;
  caFile: string;
  serverCertFile: string;
  serverKeyFile: string;
}

export const TEST_CA_DIR = join(tmpdir(), 'account-response-engine-test-ca');
const VALID_DAYS = 30;
// Regenerate when less than this remains, so a long test run never meets an expiring certificate.
const MIN_REMAINING_MS = 2 * 24 * 3600 * 1000;

function openssl(args: string[], cwd: string): void {
  try {
    execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (e) {
    const stderr = (e as { stderr?: Buffer }).stderr?.toString() ?? '';
    throw new Error(
      `openssl ${args[0]} failed (is the openssl CLI installed?): ${stderr || (e as Error).message}`,
      { cause: e },
    );
  }
}

function files(dir: string): TestCa {
  return {
    dir,
    caFile: join(dir, 'ca.pem'),
    serverCertFile: join(dir, 'server.pem'),
    serverKeyFile: join(dir, 'server.key'),
  };
}

function stillValid(ca: TestCa): boolean {
  if (![ca.caFile, ca.serverCertFile, ca.serverKeyFile].every((f) => existsSync(f))) return false;
  try {
    const notAfter = new X509Certificate(readFileSync(ca.serverCertFile)).validTo;
    return Date.parse(notAfter) - Date.now() > MIN_REMAINING_MS;
  } catch {
    return false;
  }
}

/** Creates the CA and server certificate once (idempotent, safe when several processes race). */
export function ensureTestCa(dir: string = TEST_CA_DIR): TestCa {
  const ca = files(dir);
  if (stillValid(ca)) return ca;

  const work = mkdtempSync(`${dir}.tmp-`);
  selfSigned(work, 'ca', String(VALID_DAYS), '/CN=account-response-engine test CA', [
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign',
  ]);
  openssl(
    [
      'req',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      'server.key',
      '-out',
      'server.csr',
      '-subj',
      '/CN=localhost',
    ],
    work,
  );
  writeFileSync(
    join(work, 'server.ext'),
    'subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n',
  );
  openssl(
    [
      'x509',
      '-req',
      '-in',
      'server.csr',
      '-CA',
      'ca.pem',
      '-CAkey',
      'ca.key',
      '-CAcreateserial',
      '-out',
      'server.pem',
      '-days',
      String(VALID_DAYS),
      '-extfile',
      'server.ext',
    ],
    work,
  );
  // Replace an expired set; a concurrent winner's fresh set is kept and ours discarded.
  if (existsSync(dir) && !stillValid(ca)) rmSync(dir, { recursive: true, force: true });
  try {
    renameSync(work, dir);
  } catch {
    rmSync(work, { recursive: true, force: true });
  }
  if (!stillValid(ca)) throw new Error(`test CA in ${dir} could not be created`);
  return ca;
}

/**
 * For jest's globalSetup: makes the workers it is about to start trust the test CA. Workers inherit the parent's
 * environment when they are spawned, and Node reads NODE_EXTRA_CA_CERTS only at start-up, so this must run
 * before any worker exists. A file the operator already named is kept, bundled with the test CA.
 */
export function trustTestCaInWorkers(env: NodeJS.ProcessEnv = process.env): string {
  const ca = ensureTestCa();
  const existing = env.NODE_EXTRA_CA_CERTS;
  if (!existing || existing === ca.caFile) {
    env.NODE_EXTRA_CA_CERTS = ca.caFile;
    return ca.caFile;
  }
  const bundle = join(ca.dir, 'bundle.pem');
  writeFileSync(bundle, `${readFileSync(existing, 'utf8').trim()}\n${readFileSync(ca.caFile, 'utf8')}`);
  env.NODE_EXTRA_CA_CERTS = bundle;
  return bundle;
}

export interface ClientCertificate {
  certFile: string;
  privateKeyFile: string;
  /** SHA-1, upper-case hex without separators: what the Entra portal shows as "Thumbprint". */
  thumbprint: string;
  thumbprintSha256: string;
  certificate: X509Certificate;
}

/** `openssl req -x509`: a new RSA key `<name>.key` and a self-signed certificate `<name>.pem` in `dir`. */
function selfSigned(dir: string, name: string, days: string, subject: string, extra: string[] = []): void {
  const args = [
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    `${name}.key`,
    '-out',
    `${name}.pem`,
  ];
  openssl([...args, '-days', days, '-subj', subject, ...extra], dir);
}

/** A self-signed certificate as an app registration's credential (what `New-SelfSignedCertificate` makes). */
export function createClientCertificate(dir: string, name: string): ClientCertificate {
  const keyFile = `${name}.key`;
  const certFile = `${name}.pem`;
  selfSigned(dir, name, '2', `/CN=${name}`);
  const certificate = new X509Certificate(readFileSync(join(dir, certFile)));
  return {
    certFile: join(dir, certFile),
    privateKeyFile: join(dir, keyFile),
    thumbprint: certificate.fingerprint.replace(/:/g, ''),
    thumbprintSha256: certificate.fingerprint256.replace(/:/g, ''),
    certificate,
  };
}

export function makeTempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), prefix));
}
