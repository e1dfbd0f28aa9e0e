import { GraphRequest, GraphResponse } from './graph-types';
import { MAX_BATCH_SIZE } from './graph-transport';

export interface BatchSender {
  send(req: GraphRequest): Promise<GraphResponse>;
  sendBatch(reqs: GraphRequest[]): Promise<GraphResponse[]>;
}

interface Pending {
  req: GraphRequest;
  resolve: (res: GraphResponse) => void;
  reject: (e: unknown) => void;
}

/**
 * Coalesces Graph requests made close together into JSON $batch calls (at most 20 each). A request waits at most
 * `windowMs` for company; one that finds none goes out on its own, so a lone task pays no batching overhead
 * beyond the window. Each caller gets its own item's answer (status, headers, body), so one throttled or failed
 * item never fails its neighbours; only a failure to get any answer (network, timeout) reaches every caller of
 * that batch.
 */
export class GraphBatcher {
  private queue: Pending[] = [];
  private timer?: NodeJS.Timeout;

  constructor(
    private readonly sender: BatchSender,
    private readonly windowMs = 5,
    private readonly maxBatch = MAX_BATCH_SIZE,
  ) {}

  submit(req: GraphRequest): Promise<GraphResponse> {
    return new Promise<GraphResponse>((resolve, reject) => {
      this.queue.push({ req, resolve, reject });
      if (this.queue.length >= this.maxBatch) this.flush();
      else this.timer ??= setTimeout(() => this.flush(), this.windowMs);
    });
  }

  private flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    while (this.queue.length) {
      const chunk = this.queue.splice(0, this.maxBatch);
      void this.dispatch(chunk);
    }
  }

  private async dispatch(chunk: Pending[]): Promise<void> {
    try {
      const responses =
        chunk.length === 1
          ? [await this.sender.send(chunk[0].req)]
          : await this.sender.sendBatch(chunk.map((p) => p.req));
      chunk.forEach((p, i) => p.resolve(responses[i]));
    } catch (e) {
      for (const p of chunk) p.reject(e);
    }
  }

  /** Sends whatever is waiting now (used on shutdown). */
  drain(): void {
    this.flush();
  }
}
