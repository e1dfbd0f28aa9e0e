import { OktaProviderConfig } from '@app/config';
import { AdapterContext } from '../adapter-context';
import { DirectoryAdapter } from '../directory-adapter';
import { OktaAdapter } from './okta.adapter';

export { OktaAdapter } from './okta.adapter';

export function createOktaAdapter(config: OktaProviderConfig, context: AdapterContext): DirectoryAdapter {
  return new OktaAdapter(config, context);
}
