/**
 * A TCP proxy on 127.0.0.1 that adds a fixed round-trip time in front of a server (half of it each
 * way), to measure a client at a distance. Bytes are forwarded unchanged — TLS runs end to end, so the
 * client talks to the real server's certificate — and in order: each chunk is held `rttMs / 2` after
 * it arrived, and a half-close follows the last chunk before it. Used by the WAN cells of the bench.
 * @module
 */
import * as net from "node:net";

/** A running latency proxy. */
export interface LatencyProxy {
  /** The port on 127.0.0.1 to connect to instead of the upstream's. */
  port: number;
  /** TCP connections accepted so far. */
  readonly connections: number;
  /** Stops listening and destroys open connections. Idempotent. */
  close(): Promise<void>;
}

/** Starts a proxy to `upstream` (host and port) adding `rttMs` of round-trip time. */
export async function startLatencyProxy(upstream: { host: string; port: number }, rttMs: number): Promise<LatencyProxy> {
  const oneWay = Math.max(0, rttMs / 2);
  const sockets = new Set<net.Socket>();
  const timers = new Set<NodeJS.Timeout>();
  let connections = 0;
  let closed = false;

  const later = (fn: () => void) => {
    const timer = setTimeout(() => {
      timers.delete(timer);
      fn();
    }, oneWay);
    timers.add(timer);
  };

  /** Copies `from` to `to` with the one-way delay; equal delays keep chunks in order. */
  const pipeDelayed = (from: net.Socket, to: net.Socket) => {
    from.on("data", (chunk: Buffer) => later(() => !to.destroyed && to.write(chunk)));
    from.on("end", () => later(() => !to.destroyed && to.end()));
  };

  const server = net.createServer((client) => {
    if (closed) return client.destroy();
    connections++;
    const upstreamSocket = net.connect({ host: upstream.host, port: upstream.port });
    for (const s of [client, upstreamSocket]) {
      sockets.add(s);
      s.on("close", () => sockets.delete(s));
      s.on("error", () => {
        client.destroy();
        upstreamSocket.destroy();
      });
    }
    client.on("close", () => later(() => upstreamSocket.destroy()));
    upstreamSocket.on("close", () => later(() => client.destroy()));
    pipeDelayed(client, upstreamSocket);
    pipeDelayed(upstreamSocket, client);
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen({ host: "127.0.0.1", port: 0 }, () => resolve());
  });
  const { port } = server.address() as net.AddressInfo;
  let closing: Promise<void> | undefined;
  return {
    port,
    get connections() {
      return connections;
    },
    close() {
      closing ??= (async () => {
        closed = true;
        for (const t of timers) clearTimeout(t);
        timers.clear();
        for (const s of sockets) s.destroy();
        await new Promise<void>((resolve) => server.close(() => resolve()));
      })();
      return closing;
    },
  };
}
