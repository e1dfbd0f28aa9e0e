import { AppLogger } from '@app/logging';

/** What every adapter is given besides its own configuration. */
export interface AdapterContext {
  logger: AppLogger;
}
