import { readdirSync, readFileSync } from 'node:fs';
import { createServer, Server, Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { dirname } from 'node:path';
import { Client } from 'ldapts';
import { SlapdHandle, SlapdOptions, startSlapd } from '../../harness/slapd';
import { record } from './processes';

/** ppolicy's administrator lock: the only value the engine writes and reads as disabled. */
export const PERMANENT_LOCK = '000001010000Z';

/**
 * The shared harness's slapd, recorded for the suite's teardown and watchdog: slapd stops itself when the
 * test process exits normally, but not when jest is killed outright. Its pid and directory are read from
 * /proc (the harness does not expose them), found by the port in its command line.
 */
export async function startRecordedSlapd(opts?: SlapdOptions): Promise<SlapdHandle> {
  const slapd = await startSlapd(opts);
  const listen = `ldap://127.0.0.1:${slapd.port}/`;
  const forget: Array<() => void> = [];
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    let args: string[];
    try {
      args = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    } catch {
      continue;
    }
    if (!args[0]?.endsWith('slapd') || !args.includes(listen)) continue;
    forget.push(record('procs', pid, 'slapd'));
    const conf = args[args.indexOf('-f') + 1];
    if (conf) forget.push(record('dirs', `slapd-${pid}`, dirname(conf)));
  }
  const stop = slapd.stop;
  return {
    ...slapd,
    async stop() {
      await stop();
      forget.forEach((f) => f());
    },
  };
}

/** Adds `uids` as users under the people OU over one bound connection, `width` adds in flight. */
export async function addUsers(slapd: SlapdHandle, uids: string[], width = 32): Promise<void> {
  const c = new Client({ url: slapd.url, timeout: 10_000, connectTimeout: 5_000 });
  try {
    await c.bind(slapd.bindDN, slapd.bindPassword);
    let next = 0;
    await Promise.all(
      Array.from({ length: width }, async () => {
        while (next < uids.length) {
          const uid = uids[next++];
          await c.add(slapd.userDn(uid), {
            objectClass: ['inetOrgPerson'],
            uid,
            cn: uid,
            sn: uid,
            userPassword: `${uid}-Secret1`,
          });
        }
      }),
    );
  } finally {
    await c.unbind().catch(() => undefined);
  }
}

/**
 * pwdAccountLockedTime of every user under the people OU, read back from slapd itself in one paged search:
 * uid → its values (an empty list when the attribute is absent).
 */
export async function lockTimes(slapd: SlapdHandle): Promise<Map<string, string[]>> {
  const c = new Client({ url: slapd.url, timeout: 30_000, connectTimeout: 5_000 });
  try {
    await c.bind(slapd.bindDN, slapd.bindPassword);
    const { searchEntries } = await c.search(slapd.baseDN, {
      scope: 'one',
      filter: '(objectClass=inetOrgPerson)',
      attributes: ['uid', 'pwdAccountLockedTime'],
      paged: { pageSize: 500 },
    });
    const out = new Map<string, string[]>();
    for (const e of searchEntries) {
      const v = e.pwdAccountLockedTime;
      out.set(String(e.uid), (v === undefined ? [] : Array.isArray(v) ? v : [v]).map(String));
    }
    return out;
  } finally {
    await c.unbind().catch(() => undefined);
  }
}

/** How many of `uids` carry exactly the permanent lock, and which do not (first few). */
export async function countLocked(
  slapd: SlapdHandle,
  uids: string[],
): Promise<{ locked: number; notLocked: string[] }> {
  const times = await lockTimes(slapd);
  const notLocked = uids.filter((u) => {
    const t = times.get(u) ?? [];
    return !(t.length === 1 && t[0] === PERMANENT_LOCK);
  });
  return { locked: uids.length - notLocked.length, notLocked };
}

/**
 * A "directory" that accepts TCP connections and never answers a byte: what a hung LDAP server, a stuck load
 * balancer or a half-open firewall looks like to a client.
 */
export interface HangingServer {
  port: number;
  url: string;
  /** Connections accepted so far. */
  accepted(): number;
  /** Connections the client has not closed yet. */
  open(): number;
  bytesSwallowed(): number;
  stop(): Promise<void>;
}

export async function startHangingServer(): Promise<HangingServer> {
  const sockets = new Set<Socket>();
  let accepted = 0;
  let bytes = 0;
  const server: Server = createServer((s) => {
    accepted++;
    sockets.add(s);
    s.on('data', (d: Buffer) => (bytes += d.length));
    s.on('error', () => undefined);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    url: `ldap://127.0.0.1:${port}`,
    accepted: () => accepted,
    open: () => sockets.size,
    bytesSwallowed: () => bytes,
    async stop() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
