import { ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, InvalidCredentialsError } from 'ldapts';
import { parse } from 'yaml';
import { loadProvidersFile, OpenLdapProviderConfig, shutdownGraceMs } from '@app/config';
import { parseAccountIdentifier } from '@app/domain';
import { AppLogger } from '@app/logging';
import { unguarded } from '../../libs/directories/src/directory-adapter';
import { OpenLdapAdapter } from '../../libs/directories/src/openldap/openldap.adapter';
import { ensureBuilt, REPO_ROOT } from './built';

/**
 * There is no Docker engine here, so the deployment files are checked for the facts a `docker compose up` relies
 * on: images that exist (official ones, or ours built from a Dockerfile in the repository), a healthcheck on every
 * service, grace periods longer than the processes' own, commands that start node on files `npm run build`
 * produces, a non-root user. The OpenLDAP image's bootstrap runs for real with Debian's slapd (the image's own
 * package), and the compose providers file is tested against it.
 */

interface Service {
  image?: string;
  build?: string | { context: string; dockerfile?: string };
  command?: string[];
  environment?: Record<string, string>;
  healthcheck?: { test: string[] | string; disable?: boolean };
  stop_grace_period?: string;
  profiles?: string[];
  volumes?: string[];
}

const compose = parse(readFileSync(join(REPO_ROOT, 'docker-compose.yml'), 'utf8'), { merge: true }) as {
  services: Record<string, Service>;
  volumes?: Record<string, unknown>;
};
const services = Object.entries(compose.services);
/** Images we pull rather than build: official Docker Hub images whose tags are published. */
const OFFICIAL = [
  /^postgres:15(\.\d+)?$/,
  /^redis:7(\.\d+)?$/,
  /^node:20-bookworm-slim$/,
  /^debian:bookworm-slim$/,
];

function seconds(duration: string | undefined): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m)$/.exec(duration ?? '10s');
  if (!m) throw new Error(`not a compose duration: ${duration}`);
  return Number(m[1]) * { ms: 0.001, s: 1, m: 60 }[m[2] as 'ms' | 's' | 'm'];
}

/** The instructions of a Dockerfile's last stage, continuation lines joined. */
function finalStage(path: string): Array<{ op: string; args: string }> {
  const lines = readFileSync(path, 'utf8')
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));
  const all = lines.map((l) => {
    const [op, ...rest] = l.split(/\s+/);
    return { op: op.toUpperCase(), args: rest.join(' ') };
  });
  const from = all.map((i) => i.op).lastIndexOf('FROM');
  return all.slice(from);
}

const execForm = (args: string): string[] => JSON.parse(args.replace(/^CMD\s+/, '')) as string[];

const buildContext = (s: Service) => (typeof s.build === 'string' ? s.build : s.build?.context);

describe('docker-compose.yml', () => {
  it('uses only images that exist: official ones, or ours built from a Dockerfile in the repository', () => {
    for (const [name, s] of services) {
      const context = buildContext(s);
      if (context) {
        expect({ name, dockerfile: existsSync(join(REPO_ROOT, context, 'Dockerfile')) }).toEqual({
          name,
          dockerfile: true,
        });
        for (const from of readFileSync(join(REPO_ROOT, context, 'Dockerfile'), 'utf8').matchAll(
          /^FROM\s+(\S+)/gm,
        ))
          expect({ name, from: OFFICIAL.some((re) => re.test(from[1])) }).toEqual({ name, from: true });
      } else {
        expect({ name, image: OFFICIAL.some((re) => re.test(s.image ?? '')) }).toEqual({ name, image: true });
      }
    }
    expect(JSON.stringify(compose)).not.toMatch(/bitnami|diegogslomp/);
  });

  it('gives every service a healthcheck, and makes the apps wait for healthy dependencies', () => {
    for (const [name, s] of services) {
      expect({ name, healthcheck: !!s.healthcheck?.test && !s.healthcheck.disable }).toEqual({
        name,
        healthcheck: true,
      });
    }
    const deps = (compose.services.api as Service & { depends_on: Record<string, { condition: string }> })
      .depends_on;
    for (const d of Object.values(deps)) expect(d.condition).toBe('service_healthy');
  });

  it('lets the API and the worker stop by themselves: stop_grace_period outlasts SHUTDOWN_GRACE_MS and the directory timeouts', () => {
    for (const name of ['api', 'worker']) {
      const s = compose.services[name];
      const grace = shutdownGraceMs({ SHUTDOWN_GRACE_MS: s.environment?.SHUTDOWN_GRACE_MS }) / 1000;
      expect(grace).toBeGreaterThanOrEqual(shutdownGraceMs({}) / 1000);
      expect(seconds(s.stop_grace_period)).toBeGreaterThan(grace);
      for (const file of ['providers.compose.yml', 'providers.compose-ad.yml']) {
        const providers = loadProvidersFile(join(REPO_ROOT, 'deploy', file), { ...s.environment });
        // An LDAP operation waits timeoutMs (default 10 s) at most; a job is a handful of them, within the grace.
        for (const p of providers)
          expect(seconds(s.stop_grace_period)).toBeGreaterThan((p.timeoutMs ?? 10_000) / 1000);
      }
    }
  });

  it('starts node directly on files `npm run build` produces, with the healthcheck probe built too', async () => {
    const entryPoints = new Set<string>();
    for (const name of ['api', 'worker']) {
      const s = compose.services[name];
      expect(s.command?.[0]).toBe('node');
      expect(s.command).not.toContain('npm');
      entryPoints.add(s.command?.[s.command.length - 1] as string);
      const probe = s.healthcheck?.test as string[];
      expect(probe.slice(0, 2)).toEqual(['CMD', 'node']);
      entryPoints.add(probe[2]);
    }
    const stage = finalStage(join(REPO_ROOT, 'Dockerfile'));
    const cmd = execForm(stage.find((i) => i.op === 'CMD')?.args ?? '[]');
    expect(cmd[0]).toBe('node');
    entryPoints.add(cmd[cmd.length - 1]);
    const healthcheck = stage.find((i) => i.op === 'HEALTHCHECK')?.args ?? '';
    const probe = execForm(healthcheck.slice(healthcheck.indexOf('CMD ')));
    expect(probe[0]).toBe('node');
    entryPoints.add(probe[1]);
    const cliWrapper = /dist\/apps\/cli\/src\/main\.js/.exec(stage.map((i) => i.args).join('\n'))?.[0];
    expect(cliWrapper).toBeDefined();
    entryPoints.add(cliWrapper as string);

    expect([...entryPoints].sort()).toEqual([
      'dist/apps/api/src/main.js',
      'dist/apps/cli/src/main.js',
      'dist/apps/healthcheck/src/main.js',
      'dist/apps/worker/src/main.js',
    ]);
    await ensureBuilt([...entryPoints]);
    for (const file of entryPoints)
      expect({ file, built: existsSync(join(REPO_ROOT, file)) }).toEqual({ file, built: true });
  });

  it('runs the app image as a non-root user and keeps ENTRYPOINT and CMD off npm', () => {
    const stage = finalStage(join(REPO_ROOT, 'Dockerfile'));
    const user = stage.filter((i) => i.op === 'USER').pop()?.args;
    expect(user).toBeDefined();
    expect(['root', '0']).not.toContain(user);
    expect(stage.some((i) => (i.op === 'CMD' || i.op === 'ENTRYPOINT') && /\bnpm\b/.test(i.args))).toBe(
      false,
    );
    expect(stage.find((i) => i.op === 'ENV')?.args).toMatch(/TS_NODE_BASEURL=\/app\/dist/);
  });
});

describe('deploy/slapd', () => {
  let dir: string;
  let slapd: ChildProcess | undefined;
  let url: string;
  const env = compose.services.openldap.environment as Record<string, string>;

  const freePort = () =>
    new Promise<number>((resolve, reject) => {
      const srv = createServer();
      srv.on('error', reject);
      srv.listen(0, '127.0.0.1', () => {
        const { port } = srv.address() as { port: number };
        srv.close(() => resolve(port));
      });
    });

  async function answers(): Promise<boolean> {
    const c = new Client({ url, timeout: 1000, connectTimeout: 1000 });
    try {
      await c.search('', { scope: 'base', filter: '(objectClass=*)' });
      return true;
    } catch {
      return false;
    } finally {
      await c.unbind().catch(() => undefined);
    }
  }

  async function canBind(dn: string, password: string): Promise<boolean> {
    const c = new Client({ url, timeout: 3000, connectTimeout: 3000 });
    try {
      await c.bind(dn, password);
      return true;
    } catch (e) {
      if (e instanceof InvalidCredentialsError) return false;
      throw e;
    } finally {
      await c.unbind().catch(() => undefined);
    }
  }

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'are-deploy-slapd-'));
    const port = await freePort();
    url = `ldap://127.0.0.1:${port}`;
    let output = '';
    slapd = spawn('sh', [join(REPO_ROOT, 'deploy/slapd/bootstrap.sh')], {
      env: {
        PATH: process.env.PATH ?? '/usr/bin:/bin',
        ...env,
        SLAPD_DATA_DIR: dir,
        SLAPD_PORT: String(port),
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    slapd.stdout?.on('data', (d: Buffer) => (output += d.toString()));
    slapd.stderr?.on('data', (d: Buffer) => (output += d.toString()));
    const deadline = Date.now() + 15_000;
    while (!(await answers())) {
      if (slapd.exitCode !== null || Date.now() > deadline)
        throw new Error(`deploy/slapd/bootstrap.sh did not start slapd: ${output}`);
      await new Promise((r) => setTimeout(r, 50)); // polling until slapd answers
    }
  });
  afterAll(async () => {
    if (slapd && slapd.exitCode === null) {
      const exited = new Promise((r) => slapd?.once('exit', r));
      slapd.kill('SIGTERM');
      await exited;
    }
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('bootstraps the suffix, the demo user and ppolicy: an administrative lock stops the bind', async () => {
    const user = 'uid=jdoe,ou=users,dc=example,dc=org';
    const [uid, password] = env.LDAP_USERS.split(':');
    expect(uid).toBe('jdoe');
    expect(await canBind(user, password)).toBe(true);
    expect(await canBind('cn=admin,dc=example,dc=org', env.LDAP_ADMIN_PASSWORD)).toBe(true);

    const config = loadProvidersFile(join(REPO_ROOT, 'deploy/providers.compose.yml'), {
      ...(compose.services.api.environment as Record<string, string>),
    })[0] as OpenLdapProviderConfig;
    const adapter = new OpenLdapAdapter(
      { ...config, url },
      { logger: new AppLogger('test', 'error', () => undefined) },
    );
    try {
      const checks = await adapter.test();
      expect(checks.map((c) => [c.name, c.ok])).toEqual([
        ['reachable', true],
        ['authenticated', true],
        ['readAccounts', true],
        ['changeAccounts', true],
      ]);
      const account = await adapter.resolve(parseAccountIdentifier('jdoe'));
      expect(account?.objectId).toBe(user);
      expect(await adapter.disable(account as NonNullable<typeof account>, unguarded())).toBe('disabled');
      expect(await canBind(user, password)).toBe(false);
      expect(await adapter.enable(account as NonNullable<typeof account>, unguarded())).toBe('enabled');
      expect(await canBind(user, password)).toBe(true);
    } finally {
      await adapter.close();
    }
  });
});
