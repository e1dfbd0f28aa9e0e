import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { ProviderKind } from '@app/domain';
import { ConfigError } from './config-error';
import { ObjectSchema, validateObject } from './schema';

export interface TlsConfig {
  caFile?: string;
  rejectUnauthorized?: boolean;
}

export interface RateLimitConfig {
  max: number;
  durationMs: number;
}

interface CommonProviderConfig {
  id: string;
  kind: ProviderKind;
  timeoutMs?: number;
  maxAttempts?: number;
  concurrency?: number;
  rateLimit?: RateLimitConfig;
  /**
   * Accounts the engine must never disable (CONTRACT §4.1), besides the ones it protects by itself (its own
   * service identity, domain controllers, krbtgt): identifiers in any form the provider resolves, or, in LDAP
   * directories, DNs of groups whose members are protected.
   */
  protectedAccounts?: string[];
}

interface LdapConnectionConfig {
  url: string;
  bindDN: string;
  bindPassword: string;
  baseDN: string;
  startTls?: boolean;
  tls?: TlsConfig;
  /**
   * At most this many bound connections to the directory, opened only while every open one is busy. 1 shares
   * a single connection among all jobs; the default is in libs/directories (DEFAULT_LDAP_CONNECTIONS).
   */
  connections?: number;
}

export interface ActiveDirectoryProviderConfig extends CommonProviderConfig, LdapConnectionConfig {
  kind: 'activeDirectory';
  /** Also write lockoutTime: 0 on enable, so a re-enabled account is not still locked out. Default true. */
  clearLockoutOnEnable?: boolean;
}

export interface OpenLdapProviderConfig extends CommonProviderConfig, LdapConnectionConfig {
  kind: 'openLdap';
  disableMethod?: 'ppolicy';
}

export interface EntraIdProviderConfig extends CommonProviderConfig {
  kind: 'entraId';
  tenantId: string;
  clientId: string;
  clientSecret?: string;
  certificate?: { thumbprint: string; privateKeyFile: string };
  authorityHost?: string;
  graphBaseUrl?: string;
}

export interface OktaProviderConfig extends CommonProviderConfig {
  kind: 'okta';
  orgUrl: string;
  token?: string;
  oauth?: { clientId: string; privateKeyFile: string; keyId?: string };
}

export type ProviderConfig =
  ActiveDirectoryProviderConfig | OpenLdapProviderConfig | EntraIdProviderConfig | OktaProviderConfig;

const common: ObjectSchema = {
  id: { type: 'string', required: true, pattern: /^[a-z0-9-]+$/ },
  kind: { type: 'string', required: true },
  timeoutMs: { type: 'integer', min: 1 },
  maxAttempts: { type: 'integer', min: 1, max: 100 },
  concurrency: { type: 'integer', min: 1, max: 1000 },
  protectedAccounts: { type: 'stringList' },
  rateLimit: {
    type: 'object',
    schema: {
      max: { type: 'integer', required: true, min: 1 },
      durationMs: { type: 'integer', required: true, min: 1 },
    },
  },
};

const ldap: ObjectSchema = {
  url: { type: 'string', required: true, pattern: /^ldaps?:\/\// },
  bindDN: { type: 'string', required: true },
  bindPassword: { type: 'string', required: true },
  baseDN: { type: 'string', required: true },
  startTls: { type: 'boolean' },
  tls: { type: 'object', schema: { caFile: { type: 'string' }, rejectUnauthorized: { type: 'boolean' } } },
  connections: { type: 'integer', min: 1, max: 100 },
};

const SCHEMAS: Record<ProviderKind, ObjectSchema> = {
  activeDirectory: { ...common, ...ldap, clearLockoutOnEnable: { type: 'boolean' } },
  openLdap: { ...common, ...ldap, disableMethod: { type: 'string', enum: ['ppolicy'] } },
  entraId: {
    ...common,
    tenantId: { type: 'string', required: true },
    clientId: { type: 'string', required: true },
    clientSecret: { type: 'string' },
    certificate: {
      type: 'object',
      schema: {
        thumbprint: { type: 'string', required: true },
        privateKeyFile: { type: 'string', required: true },
      },
    },
    authorityHost: { type: 'string', pattern: /^https?:\/\// },
    graphBaseUrl: { type: 'string', pattern: /^https?:\/\// },
  },
  okta: {
    ...common,
    orgUrl: { type: 'string', required: true, pattern: /^https?:\/\// },
    token: { type: 'string' },
    oauth: {
      type: 'object',
      schema: {
        clientId: { type: 'string', required: true },
        privateKeyFile: { type: 'string', required: true },
        keyId: { type: 'string' },
      },
    },
  },
};

/** `${NAME}` is replaced by the environment variable NAME; a missing one stops the start (CONTRACT §2). */
export function substituteEnv(value: unknown, env: NodeJS.ProcessEnv, path: string): unknown {
  if (typeof value === 'string') {
    return value.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (_, name: string) => {
      const v = env[name];
      if (v === undefined) throw new ConfigError(`${path}: environment variable ${name} is not set`);
      return v;
    });
  }
  if (Array.isArray(value)) return value.map((v, i) => substituteEnv(v, env, `${path}[${i}]`));
  if (value && typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value).map(([k, v]) => [k, substituteEnv(v, env, `${path}.${k}`)]),
    );
  }
  return value;
}

export function parseProvidersYaml(text: string, env: NodeJS.ProcessEnv = process.env): ProviderConfig[] {
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (e) {
    throw new ConfigError(`PROVIDERS_FILE is not valid YAML: ${(e as Error).message}`);
  }
  if (!doc || typeof doc !== 'object' || Array.isArray(doc)) throw new ConfigError('providers: missing');
  const unknownTop = Object.keys(doc).filter((k) => k !== 'providers');
  if (unknownTop.length) throw new ConfigError(`${unknownTop[0]}: unknown key`);
  const list = (doc as { providers?: unknown }).providers;
  if (!Array.isArray(list)) throw new ConfigError('providers: must be a list');

  const seen = new Set<string>();
  return list.map((raw, i) => {
    const path = `providers[${i}]`;
    if (!raw || typeof raw !== 'object' || Array.isArray(raw))
      throw new ConfigError(`${path}: must be a mapping`);
    const kind = (raw as { kind?: unknown }).kind;
    if (typeof kind !== 'string' || !(kind in SCHEMAS)) {
      throw new ConfigError(`${path}.kind: must be one of ${Object.keys(SCHEMAS).join(', ')}`);
    }
    const substituted = substituteEnv(raw, env, path) as Record<string, unknown>;
    validateObject(substituted, SCHEMAS[kind as ProviderKind], path);
    const cfg = substituted as unknown as ProviderConfig;
    if (seen.has(cfg.id)) throw new ConfigError(`${path}.id: duplicate id ${cfg.id}`);
    seen.add(cfg.id);
    if (cfg.kind === 'entraId' && !cfg.clientSecret === !cfg.certificate) {
      throw new ConfigError(`${path}: exactly one of clientSecret or certificate is required`);
    }
    if (cfg.kind === 'okta' && !cfg.token === !cfg.oauth) {
      throw new ConfigError(`${path}: exactly one of token or oauth is required`);
    }
    return cfg;
  });
}

export function loadProvidersFile(file: string, env: NodeJS.ProcessEnv = process.env): ProviderConfig[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new ConfigError(`PROVIDERS_FILE ${file} cannot be read: ${(e as Error).message}`);
  }
  return parseProvidersYaml(text, env);
}
