import { execFileSync } from 'node:child_process';

/**
 * Debian packages the integration tier needs. samba's Recommends are needed too but are left out by
 * --no-install-recommends: the AD schema a DC provision reads (samba-ad-provision), the DC's database
 * modules such as samba_secrets (samba-dsdb-modules) and acl_xattr (samba-vfs-modules).
 */
const PACKAGES = [
  'slapd',
  'ldap-utils',
  'samba',
  'samba-ad-provision',
  'samba-dsdb-modules',
  'samba-vfs-modules',
];

function installed(pkg: string): boolean {
  try {
    return execFileSync('dpkg-query', ['-W', '-f=${Status}', pkg], { encoding: 'utf8' }).includes(
      'install ok installed',
    );
  } catch {
    return false;
  }
}

/**
 * CONTRACT §1: the test set-up installs what the machine lacks from the OS packages where it can (root), or
 * stops at once saying what to install.
 */
export async function ensureSystemPackages(): Promise<void> {
  const missing = PACKAGES.filter((p) => !installed(p));
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
