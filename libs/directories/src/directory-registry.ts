import { ProviderConfig } from '@app/config';
import { ProviderKind } from '@app/domain';
import { AdapterContext } from './adapter-context';
import { DirectoryAdapter } from './directory-adapter';
import { createActiveDirectoryAdapter } from './active-directory';
import { createEntraIdAdapter } from './entra-id';
import { createOktaAdapter } from './okta';
import { createOpenLdapAdapter } from './openldap';

type AdapterFactory = (config: never, context: AdapterContext) => DirectoryAdapter;

/** One factory per directory kind; adding a kind means one class and one line here. */
const FACTORIES: Record<ProviderKind, AdapterFactory> = {
  activeDirectory: createActiveDirectoryAdapter,
  openLdap: createOpenLdapAdapter,
  entraId: createEntraIdAdapter,
  okta: createOktaAdapter,
};

/** The configured providers, each behind the one DirectoryAdapter interface. */
export class DirectoryRegistry {
  private readonly adapters = new Map<string, DirectoryAdapter>();
  private readonly configs = new Map<string, ProviderConfig>();

  constructor(configs: readonly ProviderConfig[], context: AdapterContext) {
    for (const config of configs) {
      const factory = FACTORIES[config.kind] as (c: ProviderConfig, ctx: AdapterContext) => DirectoryAdapter;
      this.configs.set(config.id, config);
      this.adapters.set(
        config.id,
        factory(config, { ...context, logger: context.logger.child(`directory:${config.id}`) }),
      );
    }
  }

  ids(): string[] {
    return [...this.configs.keys()];
  }

  has(id: string): boolean {
    return this.adapters.has(id);
  }

  get(id: string): DirectoryAdapter {
    const adapter = this.adapters.get(id);
    if (!adapter) throw new Error(`provider ${id} is not configured`);
    return adapter;
  }

  config(id: string): ProviderConfig {
    const config = this.configs.get(id);
    if (!config) throw new Error(`provider ${id} is not configured`);
    return config;
  }

  allConfigs(): ProviderConfig[] {
    return [...this.configs.values()];
  }

  async closeAll(): Promise<void> {
    await Promise.allSettled([...this.adapters.values()].map((a) => a.close()));
  }
}
