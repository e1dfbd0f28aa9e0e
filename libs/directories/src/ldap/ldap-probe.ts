import { Client, InvalidCredentialsError, ResultCodeError } from 'ldapts';
import { CheckList, ProviderCheck } from '../provider-check';
import { createLdapClient, LdapConnectionOptions, mapLdapError } from './ldap-connection';

/** One decided (or undecidable) check, as an adapter's account step reports it. */
export interface ProbeResult {
  ok: boolean | null;
  message: string;
}

export interface LdapAccountProbe {
  /** Whether the bind identity can read accounts under baseDN. */
  read(client: Client): Promise<ProbeResult>;
  /** Whether it may make the change the adapter makes, found out without changing anything. */
  change(client: Client): Promise<ProbeResult>;
}

/**
 * The common part of an LDAP provider's test: a connection of its own (not the adapter's pooled one, so the
 * test sees exactly what a fresh start would, and leaves the pool alone), StartTLS when configured, the bind,
 * then the adapter's own read and change checks over that connection. A bind refused with invalidCredentials
 * proves the server reachable and is reported as the password (or DN) being wrong.
 */
export async function probeLdap(
  options: LdapConnectionOptions,
  accounts: LdapAccountProbe,
): Promise<ProviderCheck[]> {
  const checks = new CheckList();
  let client: Client;
  let tlsOptions;
  try {
    ({ client, tlsOptions } = createLdapClient(options));
  } catch (e) {
    checks.fail('configuration', `cannot use the connection settings: ${(e as Error).message}`);
    return checks.notChecked(
      ['reachable', 'authenticated', 'readAccounts', 'changeAccounts'],
      'configuration',
    );
  }
  try {
    if (options.startTls) {
      try {
        await client.startTLS(tlsOptions);
      } catch (e) {
        checks.fail('reachable', `StartTLS with ${options.url} failed: ${mapLdapError(e).message}`);
        return checks.notChecked(['authenticated', 'readAccounts', 'changeAccounts'], 'reachable');
      }
    }
    try {
      await client.bind(options.bindDN, options.bindPassword);
    } catch (e) {
      if (!(e instanceof ResultCodeError)) {
        checks.fail('reachable', `cannot reach ${options.url}: ${mapLdapError(e).message}`);
        return checks.notChecked(['authenticated', 'readAccounts', 'changeAccounts'], 'reachable');
      }
      checks.pass('reachable', `${options.url} answered${options.startTls ? ' (StartTLS)' : ''}`);
      checks.fail('authenticated', bindRefusal(e, options.bindDN));
      return checks.notChecked(['readAccounts', 'changeAccounts'], 'authenticated');
    }
    checks.pass('reachable', `${options.url} answered${options.startTls ? ' (StartTLS)' : ''}`);
    checks.pass('authenticated', `bound as ${options.bindDN}`);
    const read = await settle(() => accounts.read(client));
    checks.add('readAccounts', read.ok, read.message);
    if (read.ok === false) return checks.notChecked(['changeAccounts'], 'readAccounts');
    const change = await settle(() => accounts.change(client));
    checks.add('changeAccounts', change.ok, change.message);
    return checks.result();
  } finally {
    await client.unbind().catch(() => undefined);
  }
}

/** A failed step is a failed check with the directory's reason, never an exception out of test(). */
async function settle(step: () => Promise<ProbeResult>): Promise<ProbeResult> {
  try {
    return await step();
  } catch (e) {
    return { ok: false, message: mapLdapError(e).message };
  }
}

/**
 * Active Directory's reasons behind invalidCredentials (the `data` field of its diagnostic message, documented
 * for AcceptSecurityContext / LDAP bind errors).
 */
const AD_BIND_REASONS: Record<string, string> = {
  '525': 'the bind DN names no account',
  '52e': "the directory rejected the bind DN's password",
  '530': 'the account may not log on at this time',
  '531': 'the account may not log on from this workstation',
  '532': "the account's password has expired",
  '533': 'the account is disabled',
  '701': 'the account has expired',
  '773': 'the account must reset its password before it can bind',
  '775': 'the account is locked out',
};

/** Why the bind was refused, in words an operator acts on (a wrong password is named as such). */
export function bindRefusal(e: ResultCodeError, bindDN: string): string {
  const diagnostic = e.message.replace(/\s*Code: 0x[0-9a-f]+\s*$/i, '').trim();
  if (e instanceof InvalidCredentialsError) {
    const data = /\bdata ([0-9a-f]{3})\b/i.exec(diagnostic)?.[1]?.toLowerCase();
    const reason =
      (data && AD_BIND_REASONS[data]) ??
      "the directory rejected the bind DN's password (or the bind DN does not exist, or its account is locked)";
    return `${reason}: invalidCredentials binding as ${bindDN}${diagnostic ? ` (${diagnostic})` : ''}`;
  }
  return `the bind as ${bindDN} was refused: LDAP error ${e.code}${diagnostic ? `: ${diagnostic}` : ''}`;
}

/** DNs compared as an operator would write them: case and spacing after commas do not matter. */
export function sameDn(a: string, b: string): boolean {
  const norm = (dn: string) =>
    dn
      .split(/(?<!\\),/)
      .map((rdn) => rdn.trim().toLowerCase())
      .join(',');
  return norm(a) === norm(b);
}
