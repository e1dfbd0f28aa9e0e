import { OpenLdapProviderConfig } from '@app/config';
import { AdapterContext } from '../adapter-context';
import { DirectoryAdapter } from '../directory-adapter';
import { OpenLdapAdapter } from './openldap.adapter';

export { OpenLdapAdapter, PERMANENT_LOCK } from './openldap.adapter';
export { accountFilter } from './openldap-filter';

export function createOpenLdapAdapter(
  config: OpenLdapProviderConfig,
  context: AdapterContext,
): DirectoryAdapter {
  return new OpenLdapAdapter(config, context);
}
