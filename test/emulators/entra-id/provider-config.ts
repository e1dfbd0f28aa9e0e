import type { EntraIdProviderConfig } from '@app/config';
import type { EntraEmulator } from './emulator';

/** The provider entry (CONTRACT §2) that points the engine at this emulator, with the app's client secret. */
export function entraIdProvider(
  entra: EntraEmulator,
  over: Partial<EntraIdProviderConfig> = {},
): EntraIdProviderConfig {
  return {
    id: 'entra',
    kind: 'entraId',
    tenantId: entra.tenantId,
    clientId: entra.clientId,
    clientSecret: entra.clientSecret,
    authorityHost: entra.authorityHost,
    graphBaseUrl: entra.graphBaseUrl,
    ...over,
  };
}
