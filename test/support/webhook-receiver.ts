/**
 * A webhook receiver for tests and benches: an HTTP server on 127.0.0.1 whose paths answer from a
 * script (a status, or "hang": hold the request unanswered until {@link WebhookReceiver.close}),
 * recording every request with its raw body, headers and when it arrived.
 * @module
 */
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

/** What one request to a path gets: a status (optionally with headers), or no answer at all. */
export type ReceiverReply = number | "hang" | { status: number; headers?: Record<string, string> };

/** One request as received. */
export interface ReceivedRequest {
  path: string;
  headers: Record<string, string>;
  body: string;
  receivedAt: number;
  /** What it was answered with ("hang": never answered). */
  reply: ReceiverReply;
}

/** A running receiver. */
export interface WebhookReceiver {
  /** `http://127.0.0.1:<port>` */
  origin: string;
  requests: ReceivedRequest[];
  /** Sets the replies of `path`, in order; the last one repeats. Default for every path: 200. */
  script(path: string, replies: ReceiverReply[]): void;
  /** Waits (bounded) until `predicate` holds over the requests so far. */
  waitFor(predicate: (requests: ReceivedRequest[]) => boolean, what: string, timeoutMs?: number): Promise<ReceivedRequest[]>;
  close(): Promise<void>;
}

/** Starts a receiver on a free 127.0.0.1 port. */
export async function startWebhookReceiver(): Promise<WebhookReceiver> {
  const scripts = new Map<string, ReceiverReply[]>();
  const counts = new Map<string, number>();
  const requests: ReceivedRequest[] = [];
  const held: ServerResponse[] = [];
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const path = new URL(req.url ?? "/", "http://x").pathname;
      const n = counts.get(path) ?? 0;
      counts.set(path, n + 1);
      const list = scripts.get(path) ?? [200];
      const reply = list[Math.min(n, list.length - 1)]!;
      const headers: Record<string, string> = {};
      for (const [k, v] of Object.entries(req.headers)) if (typeof v === "string") headers[k] = v;
      requests.push({ path, headers, body: Buffer.concat(chunks).toString("utf8"), receivedAt: Date.now(), reply });
      if (reply === "hang") {
        held.push(res);
        return;
      }
      const { status, headers: extra } = typeof reply === "number" ? { status: reply, headers: {} } : reply;
      res.writeHead(status, { "content-type": "text/plain", ...extra });
      res.end(status >= 200 && status < 300 ? "ok" : `refused with ${status}`);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    origin: `http://127.0.0.1:${port}`,
    requests,
    script(path, replies) {
      scripts.set(path, replies);
      counts.set(path, 0);
    },
    async waitFor(predicate, what, timeoutMs = 30_000) {
      const end = Date.now() + timeoutMs;
      while (!predicate(requests)) {
        if (Date.now() > end) throw new Error(`webhook receiver: timed out waiting for ${what}; got ${requests.map((r) => `${r.path} ${JSON.parse(r.body || "{}").type}`).join(", ")}`);
        await new Promise((r) => setTimeout(r, 50));
      }
      return requests;
    },
    async close() {
      for (const res of held) res.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
