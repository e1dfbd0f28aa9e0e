import { AppLogger } from '@app/logging';

/** What every adapter is given besides its own configuration. */
export interface AdapterContext {
  logger: AppLogger;
  /** True when an Active Directory provider is configured (Entra ID then skips users synced from it). */
  hasActiveDirectory: boolean;
}
