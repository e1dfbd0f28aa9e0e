import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';

/** Debian packages the integration tier needs, and a binary that proves each is installed. */
const PACKAGES: Array<{ pkg: string; binary: string }> = [
  { pkg: 'slapd', binary: '/usr/sbin/slapd' },
  { pkg: 'ldap-utils', binary: '/usr/bin/ldapsearch' },
  { pkg: 'samba', binary: '/usr/sbin/samba' },
  // A Recommends of samba, so --no-install-recommends leaves it out; provisioning a DC needs its AD schema.
  {
    pkg: 'samba-ad-provision',
    binary: '/usr/share/samba/setup/ad-schema/AD_DS_Classes__Windows_Server_2012_R2.ldf',
  },
];

/**
 * CONTRACT §1: the test set-up installs what the machine lacks from the OS packages where it can (root), or
 * stops at once saying what to install.
 */
export async function ensureSystemPackages(): Promise<void> {
  const missing = PACKAGES.filter((p) => !existsSync(p.binary)).map((p) => p.pkg);
  if (missing.length === 0) return;
  if (process.getuid?.() !== 0) {
    throw new Error(
      `Integration tests need these Debian packages: sudo apt-get install -y ${missing.join(' ')}`,
    );
  }
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  execFileSync('apt-get', ['update'], { stdio: 'inherit', env });
  execFileSync('apt-get', ['install', '-y', '--no-install-recommends', ...missing], {
    stdio: 'inherit',
    env,
  });
}
