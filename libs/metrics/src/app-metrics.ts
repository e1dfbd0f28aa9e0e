import { Injectable } from '@nestjs/common';
import { performance } from 'node:perf_hooks';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { TASK_ACTIONS, TASK_STATUSES } from '@app/domain';
import { CachedSample } from './cached-sample';

/**
 * Job states reported per provider queue (CONTRACT §10). They partition the jobs: `paused` holds the waiting jobs
 * of a queue that is paused or waiting out a directory's rate limit (BullMQ 6 keeps those in its wait list).
 */
export const QUEUE_STATES = ['waiting', 'active', 'delayed', 'failed', 'paused'] as const;
export type QueueState = (typeof QUEUE_STATES)[number];

/** How one run of a target job ended, as `are_target_attempts_total{result}` counts it. */
export const TARGET_ATTEMPT_RESULTS = [
  'succeeded',
  'skipped',
  'failed',
  'retried',
  'rateLimited',
  'waited',
  'claimLost',
] as const;
export type TargetAttemptResult = (typeof TARGET_ATTEMPT_RESULTS)[number];

export interface QueueJobCounts {
  provider: string;
  counts: Partial<Record<'waiting' | 'active' | 'delayed' | 'failed', number>>;
  paused: boolean;
  /** How much longer the queue waits out a rate limit (worker.rateLimit or its own limiter); 0 when not. */
  rateLimitedMs: number;
}

export interface TasksInProgress {
  action: string;
  count: number;
  oldestAgeSeconds: number;
}

/** Ends one attempt's measurement; a second call is ignored, so a fall-through path cannot count twice. */
export interface TargetAttemptTimer {
  end(result: TargetAttemptResult, outcome?: string | null): void;
}

const PREFIX = 'are_';
/** Reads made at scrape time: Prometheus' default scrape time-out is 10 s, and other series must still come. */
const SAMPLE_TTL_MS = 5_000;
const SAMPLE_TIMEOUT_MS = 1_000;
/** Directory calls take from milliseconds (a local slapd) to the 30 s default time-out and beyond. */
const TARGET_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120];
const HTTP_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
const HTTP_METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);

/**
 * The process-wide series (CPU, memory, event loop, GC). Registered once per process: the API and a worker may
 * share one process (the integration tests do), and the collectors behind these series are process-wide too.
 */
let processRegistry: Registry | null = null;
function processMetrics(): Registry {
  if (!processRegistry) {
    processRegistry = new Registry();
    collectDefaultMetrics({ register: processRegistry, prefix: PREFIX });
  }
  return processRegistry;
}

/**
 * Every family the engine exports (CONTRACT §10), one registry per application. Label values come from closed
 * sets (actions, statuses, outcomes, configured provider ids, route patterns) or are folded into `other`, so a
 * caller can never grow the series count, and no id, account or token can reach a label.
 */
@Injectable()
export class AppMetrics {
  readonly registry = new Registry();
  private readonly tasksCreated: Counter<'action'>;
  private readonly tasksCompleted: Counter<'action' | 'status'>;
  private readonly targetDuration: Histogram<'provider' | 'kind' | 'outcome'>;
  private readonly targetAttempts: Counter<'provider' | 'result'>;
  private readonly directoryErrors: Counter<'provider' | 'code'>;
  private readonly httpRequests: Counter<'method' | 'route' | 'status'>;
  private readonly httpDuration: Histogram<'method' | 'route' | 'status'>;
  private readonly webhookDeliveries: Counter<'result'>;
  private readonly reconcilerRequeued: Counter;
  private queueJobs: CachedSample<QueueJobCounts[]> | null = null;
  private tasksInProgress: CachedSample<TasksInProgress[]> | null = null;

  constructor() {
    // At start-up, not at the first scrape: prom-client counts CPU time from when its collectors start.
    processMetrics();
    const registers = [this.registry];
    this.tasksCreated = new Counter({
      name: 'are_tasks_created_total',
      help: 'Tasks accepted, by action.',
      labelNames: ['action'],
      registers,
    });
    this.tasksCompleted = new Counter({
      name: 'are_tasks_completed_total',
      help: 'Tasks that reached a final status, counted by the process that rolled them up.',
      labelNames: ['action', 'status'],
      registers,
    });
    this.targetDuration = new Histogram({
      name: 'are_target_duration_seconds',
      help: 'Duration of one attempt at one target, from its claim to its verdict.',
      labelNames: ['provider', 'kind', 'outcome'],
      buckets: TARGET_BUCKETS,
      registers,
    });
    this.targetAttempts = new Counter({
      name: 'are_target_attempts_total',
      help: 'Attempts at targets, by how each ended.',
      labelNames: ['provider', 'result'],
      registers,
    });
    this.directoryErrors = new Counter({
      name: 'are_directory_errors_total',
      help: 'Errors directories answered (or failed to answer) attempts with, transient or permanent.',
      labelNames: ['provider', 'code'],
      registers,
    });
    this.httpRequests = new Counter({
      name: 'are_http_requests_total',
      help: 'HTTP requests answered, by route pattern.',
      labelNames: ['method', 'route', 'status'],
      registers,
    });
    this.httpDuration = new Histogram({
      name: 'are_http_request_duration_seconds',
      help: 'HTTP request duration, by route pattern.',
      labelNames: ['method', 'route', 'status'],
      buckets: HTTP_BUCKETS,
      registers,
    });
    this.webhookDeliveries = new Counter({
      name: 'are_webhook_deliveries_total',
      help: 'Webhook delivery attempts, by verdict.',
      labelNames: ['result'],
      registers,
    });
    this.reconcilerRequeued = new Counter({
      name: 'are_reconciler_requeued_total',
      help: 'Targets PostgreSQL knew unfinished that the reconciler put on their queue again.',
      registers,
    });
    const queueJobs = (): CachedSample<QueueJobCounts[]> | null => this.queueJobs;
    new Gauge({
      name: 'are_queue_jobs',
      help: 'Jobs on each provider queue, by BullMQ state (read from Redis at scrape time).',
      labelNames: ['provider', 'state'],
      registers,
      async collect() {
        this.reset();
        for (const q of (await queueJobs()?.get()) ?? []) {
          const held = q.paused || q.rateLimitedMs > 0;
          const waiting = q.counts.waiting ?? 0;
          this.set({ provider: q.provider, state: 'waiting' }, held ? 0 : waiting);
          this.set({ provider: q.provider, state: 'paused' }, held ? waiting : 0);
          for (const state of ['active', 'delayed', 'failed'] as const)
            this.set({ provider: q.provider, state }, q.counts[state] ?? 0);
        }
      },
    });
    new Gauge({
      name: 'are_queue_rate_limited_seconds',
      help: 'How much longer each provider queue waits out a rate limit (0 when it does not).',
      labelNames: ['provider'],
      registers,
      async collect() {
        this.reset();
        for (const q of (await queueJobs()?.get()) ?? [])
          this.set({ provider: q.provider }, Math.max(0, q.rateLimitedMs) / 1000);
      },
    });
    const inProgress = (): CachedSample<TasksInProgress[]> | null => this.tasksInProgress;
    new Gauge({
      name: 'are_tasks_in_progress',
      help: 'Tasks in progress, by action (read from PostgreSQL at scrape time).',
      labelNames: ['action'],
      registers,
      async collect() {
        this.reset();
        const rows = await inProgress()?.get();
        if (!rows) return;
        for (const action of TASK_ACTIONS) this.set({ action }, 0);
        for (const r of rows) this.set({ action: r.action }, r.count);
      },
    });
    new Gauge({
      name: 'are_task_oldest_in_progress_seconds',
      help: 'Age of the oldest task still in progress, by action (0 when none is).',
      labelNames: ['action'],
      registers,
      async collect() {
        this.reset();
        // The sample are_tasks_in_progress read: one query serves both.
        const rows = await inProgress()?.get();
        if (!rows) return;
        for (const action of TASK_ACTIONS) this.set({ action }, 0);
        for (const r of rows) this.set({ action: r.action }, r.oldestAgeSeconds);
      },
    });

    // Series at zero from the start: a rate() over a counter that appears with its first increment misses it.
    for (const action of TASK_ACTIONS) {
      this.tasksCreated.inc({ action }, 0);
      for (const status of TASK_STATUSES)
        if (status !== 'inProgress') this.tasksCompleted.inc({ action, status }, 0);
    }
    for (const result of ['succeeded', 'retry', 'failed']) this.webhookDeliveries.inc({ result }, 0);
    this.reconcilerRequeued.inc(0);
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  /** The exposition text: this application's families and the process' own. */
  async render(): Promise<string> {
    return Registry.merge([processMetrics(), this.registry]).metrics();
  }

  /** Every series name the exposition can hold (histograms with their suffixes), for checking dashboards. */
  exposedNames(): Map<string, readonly string[]> {
    const names = new Map<string, readonly string[]>();
    for (const registry of [processMetrics(), this.registry]) {
      for (const m of registry.getMetricsAsArray()) {
        const labels = ((m as unknown as { labelNames?: string[] }).labelNames ?? []).slice();
        const type = String(m.type);
        if (type === 'histogram') {
          names.set(`${m.name}_bucket`, [...labels, 'le']);
          names.set(`${m.name}_sum`, labels);
          names.set(`${m.name}_count`, labels);
        } else if (type === 'summary') {
          names.set(m.name, [...labels, 'quantile']);
          names.set(`${m.name}_sum`, labels);
          names.set(`${m.name}_count`, labels);
        }
        if (type !== 'histogram') names.set(m.name, names.get(m.name) ?? labels);
      }
    }
    return names;
  }

  /** Configured providers get their attempt series at zero, so an alert on failures has a baseline. */
  declareProviders(providers: readonly string[]): void {
    for (const provider of providers)
      for (const result of TARGET_ATTEMPT_RESULTS) this.targetAttempts.inc({ provider, result }, 0);
  }

  /** Where `are_queue_jobs` reads from at scrape time. */
  readQueueJobsFrom(read: () => Promise<QueueJobCounts[]>): void {
    this.queueJobs = new CachedSample(read, SAMPLE_TTL_MS, SAMPLE_TIMEOUT_MS);
  }

  /** Where `are_tasks_in_progress` and `are_task_oldest_in_progress_seconds` read from at scrape time. */
  readTasksInProgressFrom(read: () => Promise<TasksInProgress[]>): void {
    this.tasksInProgress = new CachedSample(read, SAMPLE_TTL_MS, SAMPLE_TIMEOUT_MS);
  }

  taskCreated(action: string): void {
    this.tasksCreated.inc({ action: label(action) });
  }

  taskCompleted(action: string, status: string): void {
    this.tasksCompleted.inc({ action: label(action), status: label(status) });
  }

  /** Starts measuring one attempt at a target; `end` records its duration and how it ended. */
  targetAttempt(provider: string, kind: string): TargetAttemptTimer {
    const started = performance.now();
    let ended = false;
    return {
      end: (result, outcome) => {
        if (ended) return;
        ended = true;
        const labels = { provider: label(provider), kind: label(kind) };
        this.targetDuration.observe(
          { ...labels, outcome: label(outcome ?? result) },
          (performance.now() - started) / 1000,
        );
        this.targetAttempts.inc({ provider: labels.provider, result });
      },
    };
  }

  directoryError(provider: string, code: string): void {
    this.directoryErrors.inc({ provider: label(provider), code: label(code) });
  }

  /** `route` must be the matched route pattern (`/api/v1/tasks/:id`), never the URL. */
  httpRequest(method: string, route: string, status: number, seconds: number): void {
    const m = method.toUpperCase();
    const labels = {
      method: HTTP_METHODS.has(m) ? m : 'other',
      route: label(route, 200),
      status: String(status),
    };
    this.httpRequests.inc(labels);
    this.httpDuration.observe(labels, seconds);
  }

  webhookDelivery(result: string): void {
    this.webhookDeliveries.inc({ result: label(result) });
  }

  reconcilerRequeue(count: number): void {
    if (count > 0) this.reconcilerRequeued.inc(count);
  }
}

/** Anything but a short word-like value (an id, a message, an injected string) is folded into `other`. */
function label(value: string, max = 64): string {
  return value.length <= max && /^[A-Za-z0-9_.:/{}-]+$/.test(value) ? value : 'other';
}
