import { createServer, IncomingHttpHeaders, Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ReceivedRequest {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
  at: number;
}

export interface Reply {
  /** 0: never answer (the connection stays open until the client gives up or the receiver closes). */
  status: number;
  headers?: Record<string, string>;
}

/** Decides the answer to each request; `n` counts the requests this receiver has had, from 0. */
export type Responder = (req: ReceivedRequest, n: number) => Reply;

export interface Receiver {
  url: string;
  port: number;
  requests: ReceivedRequest[];
  respond: Responder;
  /** Resolves once `predicate` holds over the requests received; rejects after `timeoutMs`. */
  waitFor(
    predicate: (requests: ReceivedRequest[]) => boolean,
    timeoutMs?: number,
    what?: string,
  ): Promise<ReceivedRequest[]>;
  close(): Promise<void>;
}

/** A webhook receiver: node:http on a loopback address, recording every request with its raw body. */
export async function startReceiver(
  host = '127.0.0.1',
  respond: Responder = () => ({ status: 204 }),
): Promise<Receiver> {
  const requests: ReceivedRequest[] = [];
  const waiters = new Set<() => void>();
  const receiver: Receiver = {
    url: '',
    port: 0,
    requests,
    respond,
    waitFor(predicate, timeoutMs = 20_000, what = 'the expected webhook requests') {
      return new Promise((resolve, reject) => {
        const check = () => {
          if (!predicate(requests)) return;
          cleanup();
          resolve(requests);
        };
        const timer = setTimeout(() => {
          cleanup();
          reject(
            new Error(
              `timed out waiting for ${what}; got ${requests.length}: ${requests.map((r) => r.headers['webhook-id'] + ' ' + r.body.slice(0, 40)).join(' | ')}`,
            ),
          );
        }, timeoutMs);
        const cleanup = () => {
          clearTimeout(timer);
          waiters.delete(check);
        };
        waiters.add(check);
        check();
      });
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const r: ReceivedRequest = {
        method: req.method ?? '',
        path: req.url ?? '',
        headers: req.headers,
        body: Buffer.concat(chunks).toString('utf8'),
        at: Date.now(),
      };
      const n = requests.length;
      requests.push(r);
      const reply = receiver.respond(r, n);
      if (reply.status !== 0) {
        res.writeHead(reply.status, reply.headers ?? {});
        res.end();
      }
      for (const w of [...waiters]) w();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  receiver.port = (server.address() as AddressInfo).port;
  receiver.url = `http://${host.includes(':') ? `[${host}]` : host}:${receiver.port}`;
  return receiver;
}

/** The webhook headers as the standardwebhooks library wants them. */
export function webhookHeaders(r: ReceivedRequest): Record<string, string> {
  return {
    'webhook-id': String(r.headers['webhook-id']),
    'webhook-timestamp': String(r.headers['webhook-timestamp']),
    'webhook-signature': String(r.headers['webhook-signature']),
  };
}

export function eventOf(r: ReceivedRequest): {
  type: string;
  timestamp: string;
  data: { id: string; status: string };
} {
  return JSON.parse(r.body);
}

/** Polls `probe` until it returns a value (not undefined), or fails after `timeoutMs`. */
export async function eventually<T>(
  probe: () => Promise<T | undefined>,
  what: string,
  timeoutMs = 20_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50)); // polling interval, not a stand-in for synchronisation
  }
}
