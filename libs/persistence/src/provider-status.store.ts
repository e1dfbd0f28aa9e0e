import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';

export interface LastTargetResult {
  taskId: string;
  finishedAt: Date;
  outcome: string | null;
  error: { code: string; message: string } | null;
}

export interface ProviderHistory {
  lastSuccess: LastTargetResult | null;
  lastError: LastTargetResult | null;
}

/** What PostgreSQL remembers of each provider's work: its latest succeeded and latest failed target. */
@Injectable()
export class ProviderStatusStore {
  constructor(private readonly dataSource: DataSource) {}

  /**
   * One index probe per provider and status (task_targets_finished_idx), whatever the size of the history: the
   * provider list is polled by dashboards.
   */
  async history(providers: readonly string[]): Promise<Map<string, ProviderHistory>> {
    const out = new Map<string, ProviderHistory>();
    if (providers.length === 0) return out;
    const rows: Array<{
      provider: string;
      s_task: string | null;
      s_outcome: string | null;
      s_at: Date | null;
      f_task: string | null;
      f_outcome: string | null;
      f_at: Date | null;
      f_code: string | null;
      f_message: string | null;
    }> = await this.dataSource.query(
      `SELECT p.id AS provider,
              s.task_id AS s_task, s.outcome AS s_outcome, s.finished_at AS s_at,
              f.task_id AS f_task, f.outcome AS f_outcome, f.finished_at AS f_at,
              f.error_code AS f_code, f.error_message AS f_message
         FROM unnest($1::text[]) AS p(id)
         LEFT JOIN LATERAL (
           SELECT task_id, outcome, finished_at FROM task_targets
            WHERE provider = p.id AND status = 'succeeded' AND finished_at IS NOT NULL
            ORDER BY finished_at DESC LIMIT 1) s ON true
         LEFT JOIN LATERAL (
           SELECT task_id, outcome, finished_at, error_code, error_message FROM task_targets
            WHERE provider = p.id AND status = 'failed' AND finished_at IS NOT NULL
            ORDER BY finished_at DESC LIMIT 1) f ON true`,
      [providers],
    );
    for (const r of rows) {
      out.set(r.provider, {
        lastSuccess:
          r.s_task && r.s_at
            ? { taskId: r.s_task, finishedAt: r.s_at, outcome: r.s_outcome, error: null }
            : null,
        lastError:
          r.f_task && r.f_at
            ? {
                taskId: r.f_task,
                finishedAt: r.f_at,
                outcome: r.f_outcome,
                error: { code: r.f_code ?? 'unknown', message: r.f_message ?? '' },
              }
            : null,
      });
    }
    return out;
  }
}
