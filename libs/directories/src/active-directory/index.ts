import { ActiveDirectoryProviderConfig } from '@app/config';
import { AdapterContext } from '../adapter-context';
import { DirectoryAdapter } from '../directory-adapter';
import { ActiveDirectoryAdapter } from './active-directory.adapter';

export { ActiveDirectoryAdapter };

export function createActiveDirectoryAdapter(
  config: ActiveDirectoryProviderConfig,
  context: AdapterContext,
): DirectoryAdapter {
  return new ActiveDirectoryAdapter(config, context);
}
