import { ensureTestCa } from '../emulators/entra-id';
import { ensureSystemPackages } from '../harness/system-packages';

/**
 * Runs before jest starts (npm's pretest). Jest's processes read NODE_EXTRA_CA_CERTS only when they start,
 * so the CA of the Entra ID emulator's HTTPS certificate must exist before any of them does.
 */
ensureSystemPackages()
  .then(() => ensureTestCa())
  .catch((e: Error) => {
    console.error(`test set-up failed: ${e.message}`);
    process.exit(1);
  });
