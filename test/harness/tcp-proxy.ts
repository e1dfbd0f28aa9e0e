import { createConnection, createServer, Server, Socket } from 'node:net';
import type { AddressInfo } from 'node:net';

/**
 * A TCP proxy in front of a real server, which a test can cut: every open connection is reset and new ones
 * are refused, as when a database host goes away; `restore()` lets connections through again. The port stays
 * the same, so clients reconnect to where they were. With `latencyMs`, every answer of the server reaches the
 * client that much later, as from a distant directory (in order: equal delays fire in the order they were set).
 */
export interface TcpProxy {
  port: number;
  /** Connections accepted so far. */
  readonly accepted: number;
  /** Connections open now. */
  readonly open: number;
  /** Resets the oldest open connection, as a firewall or a server dropping it would; false if none is open. */
  resetOne(): boolean;
  cut(): Promise<void>;
  restore(): Promise<void>;
  stop(): Promise<void>;
}

export async function startTcpProxy(
  target: { host: string; port: number },
  opts: { latencyMs?: number } = {},
): Promise<TcpProxy> {
  const sockets = new Set<Socket>();
  const pairs = new Set<[Socket, Socket]>();
  let server: Server | null = null;
  let port = 0;
  let accepted = 0;

  const listen = () =>
    new Promise<void>((resolve, reject) => {
      const s = createServer((client) => {
        const upstream = createConnection(target);
        const pair: [Socket, Socket] = [client, upstream];
        accepted++;
        pairs.add(pair);
        for (const x of pair) {
          sockets.add(x);
          x.on('close', () => {
            sockets.delete(x);
            pairs.delete(pair);
          });
          x.on('error', () => undefined);
        }
        client.pipe(upstream);
        if (opts.latencyMs) {
          const ms = opts.latencyMs;
          upstream.on('data', (chunk) => setTimeout(() => client.writable && client.write(chunk), ms));
          upstream.on('end', () => setTimeout(() => client.end(), ms));
        } else upstream.pipe(client);
      });
      s.once('error', reject);
      s.listen(port, '127.0.0.1', () => {
        port = (s.address() as AddressInfo).port;
        server = s;
        resolve();
      });
    });
  const close = async () => {
    const s = server;
    server = null;
    for (const x of sockets) x.resetAndDestroy();
    sockets.clear();
    if (s) await new Promise<void>((r) => s.close(() => r()));
  };

  await listen();
  return {
    get port() {
      return port;
    },
    get accepted() {
      return accepted;
    },
    get open() {
      return pairs.size;
    },
    resetOne() {
      const [oldest] = pairs;
      if (!oldest) return false;
      pairs.delete(oldest);
      for (const x of oldest) x.resetAndDestroy();
      return true;
    },
    cut: close,
    restore: listen,
    stop: close,
  };
}
