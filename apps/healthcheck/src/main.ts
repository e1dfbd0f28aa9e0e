import { readdirSync, readFileSync } from 'node:fs';

/**
 * The image's HEALTHCHECK. One image runs either process, so the probe asks the one that runs: the API's
 * /health/ready on PORT, or the worker's on WORKER_PORT. Plain Node with no dependency and no path aliases: it
 * runs every few seconds and must stay cheap.
 */
export function healthPort(env: NodeJS.ProcessEnv, commandLines: readonly string[]): number | null {
  if (env.HEALTHCHECK_PORT) return Number(env.HEALTHCHECK_PORT);
  const worker = commandLines.some((c) => c.includes('apps/worker/src/main.js'));
  const port = Number(worker ? (env.WORKER_PORT ?? '3001') : (env.PORT ?? '3000'));
  // WORKER_PORT=0 turns the worker's listener off: there is nothing to ask, and the container counts as healthy.
  return port === 0 ? null : port;
}

/** The command lines of the processes this container runs (its PID namespace). */
function commandLines(): string[] {
  const lines: string[] = [];
  for (const pid of readdirSync('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    try {
      lines.push(readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' '));
    } catch {
      // The process ended meanwhile.
    }
  }
  return lines;
}

async function probe(): Promise<number> {
  const port = healthPort(process.env, commandLines());
  if (port === null) return 0;
  try {
    const res = await fetch(`http://127.0.0.1:${port}/health/ready`, { signal: AbortSignal.timeout(4000) });
    return res.ok ? 0 : 1;
  } catch {
    return 1;
  }
}

if (require.main === module) void probe().then((code) => process.exit(code));
