import type { OpenLdapProviderConfig } from '@app/config';
import { ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Attribute, Change, Client, InvalidCredentialsError } from 'ldapts';
import { escapeDnValue, escapeFilter } from '../../libs/directories/src/ldap';

export interface SlapdUser {
  uid: string;
  cn?: string;
  /** Several values are allowed (and two users may share one, to test ambiguity). */
  mail?: string | string[];
  password: string;
}

export interface SlapdConnectionInfo {
  id: number;
  authzDN: string;
  opsCompleted: number;
}

export interface SlapdHandle {
  url: string;
  port: number;
  /** The rootdn. */
  bindDN: string;
  bindPassword: string;
  /** The people OU, where users live. */
  baseDN: string;
  suffix: string;
  policyDN: string;
  addUser(u: SlapdUser): Promise<string>;
  /** Adds any entry as rootdn (an account outside baseDN, say). */
  addEntry(dn: string, attributes: Record<string, string | string[]>): Promise<void>;
  deleteEntry(dn: string): Promise<void>;
  userDn(uid: string): string;
  /** A simple bind as `dn`: false when slapd answers invalidCredentials (wrong password or ppolicy lock). */
  canBind(dn: string, password: string): Promise<boolean>;
  /** Reads as rootdn; operational attributes are returned when named. Absent attributes are left out. */
  readAttributes(dn: string, attrs: string[]): Promise<Record<string, string[]>>;
  /** Replaces (or, with an empty list, deletes) one attribute as rootdn: for setting up states in tests. */
  setAttribute(dn: string, attr: string, values: string[]): Promise<void>;
  /** Open connections as cn=Monitor lists them (read anonymously, so the reader is not counted as rootdn). */
  connections(): Promise<SlapdConnectionInfo[]>;
  stop(): Promise<void>;
}

const SLAPD = '/usr/sbin/slapd';
const SUFFIX = 'dc=example,dc=org';
const START_DEADLINE_MS = 10_000;

// A spec that dies before afterAll must not leave slapd running: kill whatever is still up when Node exits.
const running = new Set<ChildProcess>();
process.once('exit', () => running.forEach((p) => p.kill('SIGKILL')));

export interface SlapdOptions {
  users?: SlapdUser[];
  /** slapd.conf `access` lines for the data database (slapd's default when none: everyone reads). */
  acl?: string[];
}

/**
 * The rights docs/providers/openldap.md asks for the engine's service account: write on pwdAccountLockedTime,
 * read (and so search) on the rest; everyone else only reads, and binds.
 */
export function serviceAccountAcl(serviceDn: string): string[] {
  return [
    `access to attrs=pwdAccountLockedTime by dn.exact="${serviceDn}" write by users read`,
    'access to attrs=userPassword by self write by anonymous auth by * none',
    'access to * by users read by anonymous auth',
  ];
}

/**
 * A throw-away slapd on 127.0.0.1 and a free port, with its own temp directory, the ppolicy overlay (a
 * default policy with pwdLockout TRUE, so pwdAccountLockedTime blocks binds) and cn=Monitor (so tests can
 * see how many connections a client really opened). Starts in well under a second, so each spec has its own.
 */
export async function startSlapd(opts: SlapdOptions = {}): Promise<SlapdHandle> {
  const dir = mkdtempSync(join(tmpdir(), 'slapd-'));
  const bindDN = `cn=admin,${SUFFIX}`;
  const bindPassword = 'admin-secret';
  const baseDN = `ou=people,${SUFFIX}`;
  const policyDN = `cn=default,ou=policies,${SUFFIX}`;
  mkdirSync(join(dir, 'db'));
  const conf = join(dir, 'slapd.conf');
  writeFileSync(conf, slapdConf(dir, bindDN, bindPassword, policyDN, opts.acl ?? []));

  let proc: ChildProcess | null = null;
  let port = 0;
  try {
    // A port picked by the OS can be taken by someone else before slapd binds it: try a few.
    for (let attempt = 0; attempt < 5 && !proc; attempt++) {
      port = await freePort();
      proc = await launch(conf, port);
    }
    if (!proc) throw new Error('slapd did not start on any free port');
  } catch (e) {
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }

  const url = `ldap://127.0.0.1:${port}`;
  const asRoot = async <T>(fn: (c: Client) => Promise<T>): Promise<T> => {
    const c = new Client({ url, timeout: 5000, connectTimeout: 5000 });
    try {
      await c.bind(bindDN, bindPassword);
      return await fn(c);
    } finally {
      await c.unbind().catch(() => undefined);
    }
  };
  const userDn = (uid: string) => `uid=${escapeDnValue(uid)},${baseDN}`;

  const addUser = async (u: SlapdUser): Promise<string> => {
    const dn = userDn(u.uid);
    const mail = u.mail === undefined ? [] : Array.isArray(u.mail) ? u.mail : [u.mail];
    await asRoot((c) =>
      c.add(dn, {
        objectClass: ['inetOrgPerson'],
        uid: u.uid,
        cn: u.cn ?? u.uid,
        sn: u.uid,
        ...(mail.length ? { mail } : {}),
        userPassword: u.password,
      }),
    );
    return dn;
  };

  const stopProc = proc;
  const handle: SlapdHandle = {
    url,
    port,
    bindDN,
    bindPassword,
    baseDN,
    suffix: SUFFIX,
    policyDN,
    userDn,
    addUser,
    addEntry: (dn, attributes) => asRoot((c) => c.add(dn, attributes)),
    deleteEntry: (dn) => asRoot((c) => c.del(dn)),
    async canBind(dn, password) {
      const c = new Client({ url, timeout: 5000, connectTimeout: 5000 });
      try {
        await c.bind(dn, password);
        return true;
      } catch (e) {
        if (e instanceof InvalidCredentialsError) return false;
        throw e;
      } finally {
        await c.unbind().catch(() => undefined);
      }
    },
    readAttributes: (dn, attrs) =>
      asRoot(async (c) => {
        const { searchEntries } = await c.search(dn, {
          scope: 'base',
          filter: '(objectClass=*)',
          attributes: attrs,
        });
        if (searchEntries.length !== 1) throw new Error(`${dn}: ${searchEntries.length} entries`);
        const out: Record<string, string[]> = {};
        for (const want of attrs) {
          const key = Object.keys(searchEntries[0]).find((k) => k.toLowerCase() === want.toLowerCase());
          const v = key === undefined ? [] : searchEntries[0][key];
          const list = (Array.isArray(v) ? v : [v]).map((x) => x.toString());
          // ldapts lists a requested attribute the entry lacks as []: leave it out, as documented.
          if (list.length) out[want] = list;
        }
        return out;
      }),
    setAttribute: (dn, attr, values) =>
      asRoot((c) =>
        c.modify(
          dn,
          new Change({ operation: 'replace', modification: new Attribute({ type: attr, values }) }),
        ),
      ),
    async connections() {
      const c = new Client({ url, timeout: 5000, connectTimeout: 5000 });
      try {
        const { searchEntries } = await c.search('cn=Connections,cn=Monitor', {
          scope: 'one',
          filter: escapeFilter`(objectClass=monitorConnection)`,
          attributes: [
            'monitorConnectionNumber',
            'monitorConnectionAuthzDN',
            'monitorConnectionOpsCompleted',
          ],
        });
        return searchEntries.map((e) => ({
          id: Number(e.monitorConnectionNumber),
          authzDN: String(e.monitorConnectionAuthzDN ?? ''),
          opsCompleted: Number(e.monitorConnectionOpsCompleted),
        }));
      } finally {
        await c.unbind().catch(() => undefined);
      }
    },
    async stop() {
      await terminate(stopProc);
      rmSync(dir, { recursive: true, force: true });
    },
  };

  try {
    await asRoot(async (c) => {
      await c.add(SUFFIX, { objectClass: ['dcObject', 'organization'], dc: 'example', o: 'example' });
      await c.add(baseDN, { objectClass: 'organizationalUnit', ou: 'people' });
      await c.add(`ou=policies,${SUFFIX}`, { objectClass: 'organizationalUnit', ou: 'policies' });
      // pwdMaxFailure 0: failed binds never lock, so only an administrator's pwdAccountLockedTime does.
      await c.add(policyDN, {
        objectClass: ['organizationalRole', 'pwdPolicy'],
        cn: 'default',
        pwdAttribute: 'userPassword',
        pwdLockout: 'TRUE',
        pwdMaxFailure: '0',
      });
    });
    for (const u of opts.users ?? []) await addUser(u);
  } catch (e) {
    await handle.stop();
    throw e;
  }
  return handle;
}

function slapdConf(dir: string, rootdn: string, rootpw: string, policyDN: string, acl: string[]): string {
  // ppolicy's schema is built into the overlay module since OpenLDAP 2.5; back-monitor is built into slapd.
  return `include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/inetorgperson.schema
include /etc/ldap/schema/nis.schema
modulepath /usr/lib/ldap
moduleload back_mdb
moduleload ppolicy
pidfile ${dir}/slapd.pid
argsfile ${dir}/slapd.args

database mdb
suffix "${SUFFIX}"
rootdn "${rootdn}"
rootpw ${rootpw}
directory ${dir}/db
maxsize 33554432
# Equality indexes on what the engine searches by, as any production directory has them: without them each
# lookup scans every entry, and the bench would measure slapd's scans rather than the engine.
index objectClass eq
index uid,mail,entryUUID eq
index member,uniqueMember,memberUid eq
overlay ppolicy
ppolicy_default "${policyDN}"
${acl.join('\n')}

database monitor
`;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

/** Starts slapd in the foreground (-d 0: no fork, so the child is slapd itself) and waits until it answers. */
async function launch(conf: string, port: number): Promise<ChildProcess | null> {
  const proc = spawn(SLAPD, ['-h', `ldap://127.0.0.1:${port}/`, '-f', conf, '-d', '0'], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  proc.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  let exited = false;
  let spawnError: Error | null = null;
  proc.on('exit', () => (exited = true));
  proc.on('error', (e) => (spawnError = e));

  const deadline = Date.now() + START_DEADLINE_MS;
  while (Date.now() < deadline) {
    if (spawnError) throw new Error(`cannot run ${SLAPD}: ${(spawnError as Error).message}`);
    if (await answers(port)) {
      running.add(proc);
      proc.once('exit', () => running.delete(proc));
      // A slapd left behind by a spec that failed half-way must not keep the test process alive.
      proc.unref();
      (proc.stderr as unknown as { unref?: () => void } | null)?.unref?.();
      return proc;
    }
    if (exited) {
      if (/Address already in use|bind\(\) failed/i.test(stderr)) return null;
      throw new Error(`slapd exited during start-up: ${stderr.trim().slice(-2000)}`);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  await terminate(proc);
  throw new Error(
    `slapd did not answer on port ${port} within ${START_DEADLINE_MS} ms: ${stderr.slice(-2000)}`,
  );
}

/** An anonymous root DSE read: slapd is ready once its listener serves LDAP, not merely accepts TCP. */
async function answers(port: number): Promise<boolean> {
  const c = new Client({ url: `ldap://127.0.0.1:${port}`, timeout: 1000, connectTimeout: 1000 });
  try {
    await c.search('', { scope: 'base', filter: '(objectClass=*)', attributes: ['namingContexts'] });
    return true;
  } catch {
    return false;
  } finally {
    await c.unbind().catch(() => undefined);
  }
}

async function terminate(proc: ChildProcess): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  proc.kill('SIGTERM');
  const timer = setTimeout(() => proc.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(timer);
}

/** The provider entry (CONTRACT §2) that points the engine at this slapd as its rootdn. */
export function openLdapProvider(
  slapd: SlapdHandle,
  over: Partial<OpenLdapProviderConfig> = {},
): OpenLdapProviderConfig {
  return {
    id: 'ldap',
    kind: 'openLdap',
    url: slapd.url,
    bindDN: slapd.bindDN,
    bindPassword: slapd.bindPassword,
    baseDN: slapd.baseDN,
    ...over,
  };
}
