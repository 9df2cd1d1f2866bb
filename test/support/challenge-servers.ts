/**
 * Challenge responders for Pebble integration tests (http-01 only for now).
 * @module
 */
import { createServer } from "node:http";

/** Path prefix Pebble's VA requests for http-01. */
const HTTP01_PREFIX = "/.well-known/acme-challenge/";

/** A running http-01 responder. */
export interface Http01Server {
  /** Stops listening and drops open connections. Idempotent. */
  close(): Promise<void>;
  /** Number of HTTP requests received so far (any path). */
  readonly hits: number;
  /**
   * Requests whose client went away before the answer was ready (a validator that gave up waiting on a
   * held answer: Pebble's validation times out after 15 s).
   */
  readonly abandoned: number;
}

/**
 * Serves http-01 responses on 127.0.0.1:`port`. `responses` maps token -> body
 * (the key authorization), or is anything with `respond(path)` such as `Http01Solver`; it is read at
 * request time, so it may change after the server starts. Unknown tokens/paths get a 404.
 */
export async function serveHttp01(
  port: number,
  responses: Map<string, string> | { respond(path: string): string | undefined | Promise<string | undefined> },
): Promise<Http01Server> {
  let hits = 0;
  let abandoned = 0;
  const server = createServer(async (req, res) => {
    hits++;
    const path = (req.url ?? "").split("?")[0] ?? "";
    const token = path.startsWith(HTTP01_PREFIX) ? decodeURIComponent(path.slice(HTTP01_PREFIX.length)) : undefined;
    const body =
      token === undefined ? undefined : responses instanceof Map ? responses.get(token) : await responses.respond(path);
    if (res.destroyed || req.socket.destroyed) {
      abandoned++;
      return;
    }
    if ((req.method === "GET" || req.method === "HEAD") && body !== undefined) {
      res.writeHead(200, { "content-type": "text/plain", "content-length": Buffer.byteLength(body) });
      res.end(req.method === "HEAD" ? undefined : body);
    } else {
      res.writeHead(404, { "content-type": "text/plain" });
      res.end("not found");
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen({ host: "127.0.0.1", port }, () => {
      server.off("error", reject);
      resolve();
    });
  });

  let closing: Promise<void> | undefined;
  return {
    get hits() {
      return hits;
    },
    get abandoned() {
      return abandoned;
    },
    close() {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      return closing;
    },
  };
}
