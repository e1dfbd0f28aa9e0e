export { startEntraEmulator } from './emulator';
export type { EntraEmulator, EntraFixture, FaultOptions, LoggedRequest, StartOptions } from './emulator';
export type { EmulatedUser } from './directory';
export { ensureTestCa, trustTestCaInWorkers, TEST_CA_DIR } from './tls';
export { entraIdProvider } from './provider-config';
export { GraphThrottle, resourceUnitCost } from './throttle';
export type { GraphQuota, GraphThrottleOptions } from './throttle';
