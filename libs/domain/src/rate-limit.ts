import { badRequest } from './domain-error';

/** "At most `max` per `windowSeconds`", as an operator writes it: `1000/1h`, `60/1m`, `10/30s`, `5000/1d`. */
export interface RateLimit {
  max: number;
  windowSeconds: number;
}

const UNIT_SECONDS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86_400 };

export function parseRateLimit(spec: string, what: string): RateLimit {
  const m = /^\s*(\d{1,9})\s*\/\s*(\d{0,6})\s*([smhd])\s*$/.exec(spec);
  if (!m || Number(m[1]) < 1 || (m[2] !== '' && Number(m[2]) < 1)) {
    throw badRequest(
      'invalidLimit',
      `${what} must look like 1000/1h (a count, a slash, a duration in s, m, h or d)`,
    );
  }
  return { max: Number(m[1]), windowSeconds: Number(m[2] || 1) * UNIT_SECONDS[m[3]] };
}

export function formatRateLimit(limit: RateLimit): string {
  for (const [unit, seconds] of [
    ['d', 86_400],
    ['h', 3600],
    ['m', 60],
  ] as const) {
    if (limit.windowSeconds % seconds === 0) return `${limit.max}/${limit.windowSeconds / seconds}${unit}`;
  }
  return `${limit.max}/${limit.windowSeconds}s`;
}
