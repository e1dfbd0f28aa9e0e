import { trustTestCaInWorkers } from '../emulators/entra-id';
import { ensureSystemPackages } from '../harness/system-packages';
import { startSharedSambaDc } from './samba-global';

/**
 * Runs once per `npm test`, before any integration spec. Long-lived, slow-to-start services are started here
 * (the Samba AD DC takes seconds to provision); cheap ones (slapd, the vendor emulators) are started by each
 * spec for isolation. Connection facts pass to the specs through environment variables.
 */
export default async function globalSetup(): Promise<void> {
  await ensureSystemPackages();
  // The Entra ID emulator serves HTTPS (msal-node requires it); jest workers trust its CA through
  // NODE_EXTRA_CA_CERTS, as an operator would trust a corporate CA.
  trustTestCaInWorkers();
  await startSharedSambaDc();
}
