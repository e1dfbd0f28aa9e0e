import { OpenLdapProviderConfig } from '@app/config';
import { AdapterContext } from '../adapter-context';
import { DirectoryAdapter } from '../directory-adapter';

// Placeholder until the adapter lands; the registry refuses to start with this kind configured.
export function createOpenLdapAdapter(config: OpenLdapProviderConfig, _context: AdapterContext): DirectoryAdapter {
  throw new Error(`provider ${config.id}: the OpenLdap adapter is not implemented yet`);
}
