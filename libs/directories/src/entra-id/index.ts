import { EntraIdProviderConfig } from '@app/config';
import { AdapterContext } from '../adapter-context';
import { DirectoryAdapter } from '../directory-adapter';
import { EntraIdAdapter } from './entra-id.adapter';

export { EntraIdAdapter } from './entra-id.adapter';
export { GraphBatcher } from './graph-batcher';

export function createEntraIdAdapter(
  config: EntraIdProviderConfig,
  context: AdapterContext,
): DirectoryAdapter {
  return new EntraIdAdapter(config, context);
}
