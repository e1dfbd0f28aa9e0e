import { ActiveDirectoryProviderConfig } from '@app/config';
import { AdapterContext } from '../adapter-context';
import { DirectoryAdapter } from '../directory-adapter';

// Placeholder until the adapter lands; the registry refuses to start with this kind configured.
export function createActiveDirectoryAdapter(config: ActiveDirectoryProviderConfig, _context: AdapterContext): DirectoryAdapter {
  throw new Error(`provider ${config.id}: the ActiveDirectory adapter is not implemented yet`);
}
