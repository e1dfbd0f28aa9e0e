import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { AppMetrics } from './app-metrics';

/*
 * The example alert rules and the Grafana dashboard name metrics by string; nothing else would notice a metric
 * renamed, a label dropped, or a family added that no panel shows. This spec reads both files as an operator
 * would load them and checks every name and label they use against what the code registers.
 */
const DEPLOY = join(__dirname, '..', '..', '..', 'deploy');
/** Labels Prometheus adds to every series it scrapes. */
const TARGET_LABELS = ['job', 'instance'];

const exposed = new AppMetrics().exposedNames();

function alertExpressions(): string[] {
  const doc = parse(readFileSync(join(DEPLOY, 'prometheus-alerts.yml'), 'utf8')) as {
    groups: Array<{ rules: Array<{ alert?: string; expr: string }> }>;
  };
  return doc.groups.flatMap((g) => g.rules.map((r) => String(r.expr)));
}

function dashboardExpressions(): string[] {
  const doc: unknown = JSON.parse(readFileSync(join(DEPLOY, 'grafana-dashboard.json'), 'utf8'));
  const found: string[] = [];
  const walk = (node: unknown, key?: string): void => {
    if (typeof node === 'string') {
      if (key === 'expr' || key === 'query' || key === 'definition') found.push(node);
    } else if (Array.isArray(node)) node.forEach((n) => walk(n));
    else if (node && typeof node === 'object')
      for (const [k, v] of Object.entries(node))
        walk(v, k === 'query' && typeof v === 'object' ? undefined : k);
  };
  walk(doc);
  return found.filter((e) => e.includes('are_'));
}

interface Use {
  metric: string;
  labels: string[];
}

/** Every metric an expression names, with the labels its selector matches on (`{provider="x"}`). */
function usesIn(expr: string): Use[] {
  const uses: Use[] = [];
  for (const m of expr.matchAll(/\b(are_[a-zA-Z0-9_]+)\b(\{[^}]*\})?/g)) {
    const labels = [...(m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)/g)].map((l) => l[1]);
    uses.push({ metric: m[1], labels });
  }
  // label_values(metric, label)
  for (const m of expr.matchAll(/label_values\(\s*(are_[a-zA-Z0-9_]+)\s*,\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\)/g))
    uses.push({ metric: m[1], labels: [m[2]] });
  return uses;
}

/** Labels an expression aggregates by (`by (provider, state)`). */
function groupingLabels(expr: string): string[] {
  return [...expr.matchAll(/\b(?:by|without)\s*\(([^)]*)\)/g)].flatMap((m) =>
    m[1]
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean),
  );
}

describe.each([
  ['deploy/prometheus-alerts.yml', alertExpressions],
  ['deploy/grafana-dashboard.json', dashboardExpressions],
])('%s', (_file, expressions) => {
  it('uses metrics, and names them only as the code registers them', () => {
    const exprs = expressions();
    expect(exprs.length).toBeGreaterThan(5);
    const unknown = exprs.flatMap(usesIn).filter((u) => !exposed.has(u.metric));
    expect(unknown).toEqual([]);
  });

  it('matches and aggregates only by labels those metrics have', () => {
    const wrong: string[] = [];
    for (const expr of expressions()) {
      const uses = usesIn(expr);
      const known = new Set([...TARGET_LABELS, ...uses.flatMap((u) => exposed.get(u.metric) ?? [])]);
      for (const u of uses)
        for (const l of u.labels)
          if (![...TARGET_LABELS, ...(exposed.get(u.metric) ?? [])].includes(l))
            wrong.push(`${u.metric}{${l}}`);
      if (uses.length)
        for (const l of groupingLabels(expr)) if (!known.has(l)) wrong.push(`by (${l}) in ${expr}`);
    }
    expect(wrong).toEqual([]);
  });
});

it('shows every family the engine registers on the dashboard', () => {
  const used = new Set(dashboardExpressions().flatMap((e) => usesIn(e).map((u) => u.metric)));
  const families = new AppMetrics().registry.getMetricsAsArray().map((m) => m.name);
  const shown = (family: string) =>
    [family, `${family}_bucket`, `${family}_count`, `${family}_sum`].some((n) => used.has(n));
  expect(families.filter((f) => !shown(f))).toEqual([]);
});

it('alerts on what CONTRACT §10 and the on-call runbook need', () => {
  const used = new Set(alertExpressions().flatMap((e) => usesIn(e).map((u) => u.metric)));
  for (const family of [
    'are_target_attempts_total',
    'are_directory_errors_total',
    'are_task_oldest_in_progress_seconds',
    'are_queue_jobs',
    'are_http_requests_total',
  ])
    expect(used).toContain(family);
  expect(alertExpressions().some((e) => /up\{job="account-response-engine-worker"\}/.test(e))).toBe(true);
});
