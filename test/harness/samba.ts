import type { ActiveDirectoryProviderConfig } from '@app/config';
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { connect } from 'node:net';
import { basename, join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { Attribute, Change, Client } from 'ldapts';

const run = promisify(execFile);

/**
 * The test domain. Everything the provisioning depends on is in here, and its hash names the directory the
 * DC lives in, so a DC provisioned by an earlier run is reused only when it was built exactly this way.
 */
export const SAMBA_DOMAIN = {
  realm: 'CORP.TEST',
  netbios: 'CORP',
  baseDN: 'DC=corp,DC=test',
  adminPassword: 'Adm1n!Pass-Test',
  service: { sam: 'svc-response', password: 'Svc!Pass-Resp1' },
  readOnly: { sam: 'svc-readonly', password: 'Svc!Pass-Read1' },
  // Bump when the provisioning steps below change meaning.
  layout: 3,
} as const;

// Schema GUIDs (MS-ADA1/MS-ADSC): the attributes the service account may write, and the classes it may write them on.
const ATTR_USER_ACCOUNT_CONTROL = 'bf967a68-0de6-11d0-a285-00aa003049e2';
const ATTR_LOCKOUT_TIME = '28630ebf-41d5-11d1-a9c1-0000f80367c1';
const CLASS_USER = 'bf967aba-0de6-11d0-a285-00aa003049e2';
const CLASS_COMPUTER = 'bf967a86-0de6-11d0-a285-00aa003049e2';

const ROOT = resolve(__dirname, '../../.tmp/samba-dc');
const READY = 'provisioned.ok';

export interface SambaDc {
  /** Connection facts for the specs, passed on through process.env. */
  env: Record<string, string>;
  stop(): Promise<void>;
  /** 'reused': an earlier run's provisioned DC started again; 'shared': already running for another test run. */
  provisioning: 'fresh' | 'reused' | 'shared';
  provisionMs: number;
  startMs: number;
}

/**
 * Starts the DC, or joins one that another `npm test` on this machine is using (port 636 allows only one).
 * Runs register a lease (their pid); the last one out stops the DC, and a DC nobody holds a lease on is a
 * leftover of a crashed run and is stopped before anything else happens.
 */
export async function startSambaDc(): Promise<SambaDc> {
  mkdirSync(join(ROOT, 'leases'), { recursive: true });
  return withLock(async () => {
    const key = createHash('sha256').update(JSON.stringify(SAMBA_DOMAIN)).digest('hex').slice(0, 12);
    const dir = join(ROOT, key);
    const othersUsing = liveLeases().filter((pid) => pid !== process.pid).length > 0;
    writeFileSync(join(ROOT, 'leases', String(process.pid)), '');
    const stop = () =>
      withLock(async () => {
        rmSync(join(ROOT, 'leases', String(process.pid)), { force: true });
        if (liveLeases().length === 0) await stopDaemon(dir);
      });
    const facts = { stop, env: connectionEnv(dir), provisionMs: 0, startMs: 0 };
    if (othersUsing && readSambaPid(dir) !== null) return { ...facts, provisioning: 'shared' as const };

    await stopLeftovers();
    await assertPortFree(636);
    let provisioning: SambaDc['provisioning'] = 'reused';
    let t0 = Date.now();
    if (!existsSync(join(dir, READY))) {
      for (const old of readdirSync(ROOT))
        if (old !== 'leases' && old !== 'lock') rmSync(join(ROOT, old), { recursive: true, force: true });
      await provision(dir);
      provisioning = 'fresh';
    }
    const provisionMs = Date.now() - t0;
    t0 = Date.now();
    try {
      await startDaemon(dir);
    } catch (e) {
      if (provisioning === 'fresh') throw e;
      // A reused directory that no longer starts (interrupted write, Samba upgrade) is rebuilt once.
      await stopDaemon(dir);
      await provision(dir);
      provisioning = 'fresh';
      await startDaemon(dir);
    }
    return { ...facts, provisioning, provisionMs, startMs: Date.now() - t0 };
  });
}

function connectionEnv(dir: string): Record<string, string> {
  const user = (sam: string) => `CN=${sam},CN=Users,${SAMBA_DOMAIN.baseDN}`;
  return {
    TEST_AD_URL: 'ldaps://127.0.0.1:636',
    TEST_AD_STARTTLS_URL: 'ldap://127.0.0.1:389',
    TEST_AD_BASE_DN: SAMBA_DOMAIN.baseDN,
    TEST_AD_DOMAIN: SAMBA_DOMAIN.netbios,
    TEST_AD_REALM: SAMBA_DOMAIN.realm,
    TEST_AD_CA_FILE: join(dir, 'tls', 'ca.pem'),
    TEST_AD_CA_KEY_FILE: join(dir, 'tls', 'ca.key'),
    // The delegated service account (Read/Write userAccountControl and lockoutTime on users and computers).
    TEST_AD_BIND_DN: user(SAMBA_DOMAIN.service.sam),
    TEST_AD_BIND_PASSWORD: SAMBA_DOMAIN.service.password,
    // An account without that delegation.
    TEST_AD_READONLY_DN: user(SAMBA_DOMAIN.readOnly.sam),
    TEST_AD_READONLY_PASSWORD: SAMBA_DOMAIN.readOnly.password,
    TEST_AD_ADMIN_DN: user('Administrator'),
    TEST_AD_ADMIN_PASSWORD: SAMBA_DOMAIN.adminPassword,
  };
}

/** Lease holders (test-run pids) still alive; dead ones are removed. */
function liveLeases(): number[] {
  const live: number[] = [];
  for (const name of readdirSync(join(ROOT, 'leases'))) {
    const pid = Number(name);
    if (Number.isInteger(pid) && isAlive(pid)) live.push(pid);
    else rmSync(join(ROOT, 'leases', name), { force: true });
  }
  return live;
}

/** A cross-process mutex (a file created exclusively), taken over when its holder died. */
async function withLock<T>(fn: () => Promise<T>): Promise<T> {
  const lock = join(ROOT, 'lock');
  const deadline = Date.now() + 180_000;
  for (;;) {
    try {
      writeFileSync(lock, String(process.pid), { flag: 'wx' });
      break;
    } catch {
      const holder = Number(readFileSync(lock, 'utf8') || 'NaN');
      if (!Number.isInteger(holder) || !isAlive(holder)) rmSync(lock, { force: true });
      else if (Date.now() > deadline)
        throw new Error(`Samba DC lock ${lock} held by pid ${holder} for 3 minutes`);
      else await new Promise((r) => setTimeout(r, 250));
    }
  }
  try {
    return await fn();
  } finally {
    rmSync(lock, { force: true });
  }
}

async function provision(dir: string): Promise<void> {
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(join(dir, 'tls'), { recursive: true });
  mkdirSync(join(dir, 'run'), { recursive: true });
  await makeCa(join(dir, 'tls'));
  await makeServerCert(join(dir, 'tls'), 'cert', 3650);
  const tls = join(dir, 'tls');
  await run('samba-tool', [
    'domain',
    'provision',
    '--server-role=dc',
    '--dns-backend=NONE',
    `--realm=${SAMBA_DOMAIN.realm}`,
    `--domain=${SAMBA_DOMAIN.netbios}`,
    `--adminpass=${SAMBA_DOMAIN.adminPassword}`,
    `--targetdir=${join(dir, 'dc')}`,
    '--option=interfaces=lo',
    '--option=bind interfaces only=yes',
    `--option=pid directory=${join(dir, 'run')}`,
    `--option=log file=${join(dir, 'samba.log')}`,
    // Samba's self-made certificate names the host, not 127.0.0.1; ours names both, so CA trust is testable.
    '--option=tls enabled=yes',
    `--option=tls certfile=${join(tls, 'cert.pem')}`,
    `--option=tls keyfile=${join(tls, 'cert.key')}`,
    `--option=tls cafile=${join(tls, 'ca.pem')}`,
  ]);
  const local = ['-H', join(dir, 'dc/private/sam.ldb'), '-s', smbConf(dir)];
  for (const account of [SAMBA_DOMAIN.service, SAMBA_DOMAIN.readOnly]) {
    await run('samba-tool', ['user', 'create', account.sam, account.password, ...local]);
  }
  const { stdout } = await run('samba-tool', [
    'user',
    'show',
    SAMBA_DOMAIN.service.sam,
    '--attributes=objectSid',
    ...local,
  ]);
  const sid = /objectSid: (S-1-[\d-]+)/.exec(stdout)?.[1];
  if (!sid) throw new Error(`samba-tool user show gave no objectSid: ${stdout}`);
  // The delegation docs/providers/active-directory.md asks for, set on the domain root and inherited by
  // every user and computer object below it.
  const aces = [CLASS_USER, CLASS_COMPUTER]
    .flatMap((cls) =>
      [ATTR_USER_ACCOUNT_CONTROL, ATTR_LOCKOUT_TIME].map((attr) => `(OA;CIIO;RPWP;${attr};${cls};${sid})`),
    )
    .join('');
  await run('samba-tool', ['dsacl', 'set', ...local, `--objectdn=${SAMBA_DOMAIN.baseDN}`, `--sddl=${aces}`]);
  writeFileSync(join(dir, READY), new Date().toISOString());
}

const smbConf = (dir: string) => join(dir, 'dc/etc/smb.conf');
const pidFile = (dir: string) => join(dir, 'run', 'samba.pid');

async function startDaemon(dir: string): Promise<void> {
  // Only the LDAP server: no KDC, DNS, SMB or replication, which the adapter never uses and which slow the start.
  await run('samba', ['-s', smbConf(dir), '-D', '--option=server services=ldap']);
  const deadline = Date.now() + 60_000;
  let last: unknown;
  while (Date.now() < deadline) {
    const client = new Client({
      url: 'ldaps://127.0.0.1:636',
      tlsOptions: { ca: [readFileSync(join(dir, 'tls', 'ca.pem'))] },
      connectTimeout: 2000,
      timeout: 2000,
    });
    try {
      await client.bind(`CN=Administrator,CN=Users,${SAMBA_DOMAIN.baseDN}`, SAMBA_DOMAIN.adminPassword);
      return;
    } catch (e) {
      last = e;
      await new Promise((r) => setTimeout(r, 200));
    } finally {
      await client.unbind().catch(() => undefined);
    }
  }
  throw new Error(
    `Samba AD DC did not answer LDAPS within 60 s (see ${join(dir, 'samba.log')}): ${String(last)}`,
  );
}

async function stopDaemon(dir: string): Promise<void> {
  const pid = readSambaPid(dir);
  if (pid === null) return;
  try {
    process.kill(pid, 'SIGTERM');
  } catch {
    return;
  }
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline && isAlive(pid)) await new Promise((r) => setTimeout(r, 100));
  if (isAlive(pid)) process.kill(pid, 'SIGKILL');
  rmSync(pidFile(dir), { force: true });
}

/** A run that crashed left its DC running; stop every one whose pid file we wrote. */
async function stopLeftovers(): Promise<void> {
  for (const entry of readdirSync(ROOT))
    if (entry !== 'leases' && entry !== 'lock') await stopDaemon(join(ROOT, entry));
}

/** The pid in our pid file, if that process is still a samba started from our directory. */
function readSambaPid(dir: string): number | null {
  let pid: number;
  try {
    pid = Number.parseInt(readFileSync(pidFile(dir), 'utf8').trim(), 10);
  } catch {
    return null;
  }
  if (!Number.isInteger(pid) || pid <= 0) return null;
  try {
    // Samba rewrites its process title, so the binary identifies it; the pid file is private to `dir`.
    return basename(readlinkSync(`/proc/${pid}/exe`)) === 'samba' ? pid : null;
  } catch {
    return null;
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function assertPortFree(port: number): Promise<void> {
  return new Promise((resolvePromise, reject) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      reject(
        new Error(
          `127.0.0.1:${port} is already in use; the tests need it for their Samba AD DC (another DC running?)`,
        ),
      );
    });
    socket.once('error', () => resolvePromise());
  });
}

// ---- certificates ----

async function makeCa(tlsDir: string): Promise<void> {
  await run('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-keyout', join(tlsDir, 'ca.key'), '-out', join(tlsDir, 'ca.pem'), '-days', '3650', '-subj', '/CN=Response Engine Test CA',
  ]); // prettier-ignore
}

/**
 * A server certificate for 127.0.0.1 and localhost signed by the test CA in `tlsDir`. `days` -1 gives one
 * whose notAfter has already passed, for the expired-certificate test.
 */
export async function makeServerCert(
  tlsDir: string,
  name: string,
  days: number,
  caDir = tlsDir,
): Promise<void> {
  const key = join(tlsDir, `${name}.key`);
  const csr = join(tlsDir, `${name}.csr`);
  const ext = join(tlsDir, `${name}.ext`);
  writeFileSync(ext, 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n');
  await run('openssl', [
    'req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', key, '-out', csr, '-subj', '/CN=localhost',
  ]); // prettier-ignore
  await run('openssl', [
    'x509', '-req', '-in', csr, '-CA', join(caDir, 'ca.pem'), '-CAkey', join(caDir, 'ca.key'), '-CAcreateserial',
    '-out', join(tlsDir, `${name}.pem`), '-days', String(days), '-extfile', ext,
  ]); // prettier-ignore
}

// ---- directory helpers for the specs (over LDAPS as Administrator) ----

export const UF = {
  ACCOUNTDISABLE: 0x2,
  PASSWD_NOTREQD: 0x20,
  NORMAL_ACCOUNT: 0x200,
  WORKSTATION_TRUST_ACCOUNT: 0x1000,
  SERVER_TRUST_ACCOUNT: 0x2000,
  DONT_EXPIRE_PASSWORD: 0x10000,
} as const;

export interface TestAccount {
  dn: string;
  sam: string;
}

/** Creates and inspects the specs' own accounts; each spec makes uniquely named ones, so specs stay independent. */
export class SambaAdmin {
  private readonly created: string[] = [];

  private constructor(private readonly client: Client) {}

  static async connect(): Promise<SambaAdmin> {
    const env = process.env;
    if (!env.TEST_AD_URL || !env.TEST_AD_ADMIN_DN || !env.TEST_AD_ADMIN_PASSWORD || !env.TEST_AD_CA_FILE) {
      throw new Error('TEST_AD_* is not set: the Samba AD DC is started by test/setup/global-setup.ts');
    }
    const client = new Client({
      url: env.TEST_AD_URL,
      tlsOptions: { ca: [readFileSync(env.TEST_AD_CA_FILE)] },
    });
    await client.bind(env.TEST_AD_ADMIN_DN, env.TEST_AD_ADMIN_PASSWORD);
    return new SambaAdmin(client);
  }

  /** A name no other spec or run uses, within sAMAccountName's 20 characters. */
  static uniqueName(prefix: string): string {
    return `${prefix.slice(0, 10)}-${randomBytes(4).toString('hex')}`;
  }

  get baseDN(): string {
    return process.env.TEST_AD_BASE_DN ?? SAMBA_DOMAIN.baseDN;
  }

  async createUser(opts: {
    sam: string;
    cn?: string;
    upn?: string;
    mail?: string;
    uac?: number;
    parentDN?: string;
  }): Promise<TestAccount> {
    const dn = `CN=${escapeRdn(opts.cn ?? opts.sam)},${opts.parentDN ?? `CN=Users,${this.baseDN}`}`;
    const attrs = [
      new Attribute({ type: 'objectClass', values: ['top', 'person', 'organizationalPerson', 'user'] }),
      new Attribute({ type: 'sAMAccountName', values: [opts.sam] }),
      // AD takes a password only as the quoted UTF-16LE string, and only over an encrypted connection.
      new Attribute({
        type: 'unicodePwd',
        values: [Buffer.from(`"${randomBytes(12).toString('base64')}aA1!"`, 'utf16le')],
      }),
      new Attribute({ type: 'userAccountControl', values: [String(opts.uac ?? UF.NORMAL_ACCOUNT)] }),
    ];
    if (opts.upn) attrs.push(new Attribute({ type: 'userPrincipalName', values: [opts.upn] }));
    if (opts.mail) attrs.push(new Attribute({ type: 'mail', values: [opts.mail] }));
    await this.client.add(dn, attrs);
    this.created.push(dn);
    return { dn, sam: opts.sam };
  }

  async createComputer(opts: { name: string; uac?: number }): Promise<TestAccount> {
    const dn = `CN=${escapeRdn(opts.name)},CN=Computers,${this.baseDN}`;
    const sam = `${opts.name.toUpperCase()}$`;
    await this.client.add(dn, {
      objectClass: ['top', 'person', 'organizationalPerson', 'user', 'computer'],
      sAMAccountName: sam,
      userAccountControl: String(opts.uac ?? UF.WORKSTATION_TRUST_ACCOUNT),
    });
    this.created.push(dn);
    return { dn, sam };
  }

  /** A global security group holding `members` (DNs of users or other groups). */
  async createGroup(opts: { name: string; members?: string[] }): Promise<TestAccount> {
    const dn = `CN=${escapeRdn(opts.name)},CN=Users,${this.baseDN}`;
    await this.client.add(dn, {
      objectClass: ['top', 'group'],
      sAMAccountName: opts.name,
      // ADS_GROUP_TYPE_GLOBAL_GROUP | ADS_GROUP_TYPE_SECURITY_ENABLED, as a signed 32-bit value.
      groupType: String(0x80000002 | 0),
      ...(opts.members?.length ? { member: opts.members } : {}),
    });
    this.created.push(dn);
    return { dn, sam: opts.name };
  }

  /** The computer accounts of the domain controllers, which provisioning puts in OU=Domain Controllers. */
  async domainControllers(): Promise<TestAccount[]> {
    const { searchEntries } = await this.client.search(`OU=Domain Controllers,${this.baseDN}`, {
      scope: 'sub',
      filter: '(&(objectClass=computer)(sAMAccountName=*))',
      attributes: ['sAMAccountName'],
    });
    return searchEntries.map((e) => ({ dn: e.dn, sam: String(e.sAMAccountName) }));
  }

  async createOu(name: string): Promise<string> {
    const dn = `OU=${escapeRdn(name)},${this.baseDN}`;
    await this.client.add(dn, { objectClass: ['top', 'organizationalUnit'], ou: name });
    this.created.push(dn);
    return dn;
  }

  async readUac(dn: string): Promise<number> {
    return Number(await this.readAttribute(dn, 'userAccountControl'));
  }

  async setUac(dn: string, uac: number): Promise<void> {
    await this.replace(dn, 'userAccountControl', String(uac));
  }

  /** Samba lets an administrator write any lockoutTime, which stands in for a lockout from failed logons. */
  async setLockoutTime(dn: string, value: string): Promise<void> {
    await this.replace(dn, 'lockoutTime', value);
  }

  async readAttribute(dn: string, attribute: string): Promise<string | undefined> {
    const { searchEntries } = await this.client.search(dn, {
      scope: 'base',
      filter: '(objectClass=*)',
      attributes: [attribute],
    });
    const v = searchEntries[0]?.[attribute];
    return Array.isArray(v) ? (v.length ? String(v[0]) : undefined) : v === undefined ? undefined : String(v);
  }

  async readIds(dn: string): Promise<{ guidBytes: Buffer; sidBytes: Buffer }> {
    const { searchEntries } = await this.client.search(dn, {
      scope: 'base',
      attributes: ['objectGUID', 'objectSid'],
      explicitBufferAttributes: ['objectGUID', 'objectSid'],
    });
    return {
      guidBytes: searchEntries[0].objectGUID as Buffer,
      sidBytes: searchEntries[0].objectSid as Buffer,
    };
  }

  /** Renames the object (same parent); returns the new DN. */
  async rename(dn: string, newCn: string): Promise<string> {
    const newDn = `CN=${escapeRdn(newCn)},${dn.slice(dn.search(/(?<!\\),/) + 1)}`;
    await this.client.modifyDN(dn, newDn);
    const i = this.created.indexOf(dn);
    if (i >= 0) this.created[i] = newDn;
    return newDn;
  }

  async delete(dn: string): Promise<void> {
    await this.client.del(dn);
  }

  /** Deletes what this helper created, children before parents, then disconnects. */
  async close(): Promise<void> {
    for (const dn of this.created.reverse()) await this.client.del(dn).catch(() => undefined);
    await this.client.unbind().catch(() => undefined);
  }

  private async replace(dn: string, type: string, value: string): Promise<void> {
    await this.client.modify(
      dn,
      new Change({ operation: 'replace', modification: new Attribute({ type, values: [value] }) }),
    );
  }
}

function escapeRdn(value: string): string {
  return value
    .replace(/[,+"\\<>;=]/g, (c) => `\\${c}`)
    .replace(/^([ #])/, '\\$1')
    .replace(/ $/, '\\ ');
}

/**
 * The provider entry of the run's Samba AD DC, bound as the delegated service account (from the TEST_AD_*
 * variables the global set-up exports), as openLdapProvider does for a slapd.
 */
export function sambaProvider(
  overrides: Partial<ActiveDirectoryProviderConfig> = {},
): ActiveDirectoryProviderConfig {
  const env = process.env;
  return {
    id: 'corp-ad',
    kind: 'activeDirectory',
    url: env.TEST_AD_URL as string,
    bindDN: env.TEST_AD_BIND_DN as string,
    bindPassword: env.TEST_AD_BIND_PASSWORD as string,
    baseDN: env.TEST_AD_BASE_DN as string,
    tls: { caFile: env.TEST_AD_CA_FILE, rejectUnauthorized: true },
    ...overrides,
  };
}
