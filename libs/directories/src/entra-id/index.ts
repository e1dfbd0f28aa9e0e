import { EntraIdProviderConfig } from '@app/config';
import { AdapterContext } from '../adapter-context';
import { DirectoryAdapter } from '../directory-adapter';

// Placeholder until the adapter lands; the registry refuses to start with this kind configured.
export function createEntraIdAdapter(config: EntraIdProviderConfig, _context: AdapterContext): DirectoryAdapter {
  throw new Error(`provider ${config.id}: the EntraId adapter is not implemented yet`);
}
