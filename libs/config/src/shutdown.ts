/** How long a process may take to shut down gracefully after SIGTERM/SIGINT (SHUTDOWN_GRACE_MS). */
export function shutdownGraceMs(env: NodeJS.ProcessEnv = process.env): number {
  const n = Number(env.SHUTDOWN_GRACE_MS ?? 45_000);
  return Number.isFinite(n) && n > 0 ? n : 45_000;
}

/**
 * Nest's shutdown hooks do the graceful part; this is the backstop, so that a hung dependency cannot keep a
 * stopping process alive past the orchestrator's patience (keep the two aligned: compose stop_grace_period).
 */
export function exitAfterGrace(processName: string): void {
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.once(signal, () => {
      const grace = shutdownGraceMs();
      setTimeout(() => {
        process.stderr.write(
          JSON.stringify({ level: 'error', msg: `${processName} did not stop within ${grace} ms; exiting` }) +
            '\n',
        );
        process.exit(1);
      }, grace).unref();
    });
  }
}
