export default async function globalTeardown(): Promise<void> {
  // Services started in global-setup register their stop functions here.
  const stops = (globalThis as { __testServiceStops?: Array<() => Promise<void>> }).__testServiceStops ?? [];
  await Promise.allSettled(stops.map((stop) => stop()));
}
