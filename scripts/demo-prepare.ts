import { ensureTestCa } from '../test/emulators/entra-id';
import { ensureSystemPackages } from '../test/harness/system-packages';

/**
 * Runs before the demo process starts: installs slapd/samba if missing, and creates the CA of the Entra ID
 * emulator's HTTPS certificate, which the demo process then trusts through NODE_EXTRA_CA_CERTS (Node reads
 * that variable only at start-up).
 */
ensureSystemPackages()
  .then(() => ensureTestCa())
  .catch((e: Error) => {
    console.error(`demo set-up failed: ${e.message}`);
    process.exit(1);
  });
