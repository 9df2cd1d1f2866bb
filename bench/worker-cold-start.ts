import { createServer } from "node:net";
import { Miniflare, type MiniflareOptions } from "miniflare";
import { unstable_getMiniflareWorkerOptions } from "wrangler";
import type { PebbleInstance } from "../test/support/pebble.ts";
import { startWorker, WRANGLER_CONFIG } from "../test/support/worker.ts";
import { median } from "./measure.ts";

/** The http-01 responder's cold start in workerd (Miniflare), beside an empty Worker's. */
export interface WorkerColdStart {
  runs: number;
  /** From starting workerd to ready (the module loaded and evaluated), median: the edgecert Worker. */
  readyMs: number;
  /**
   * The same for a Worker with the same bindings and Durable Object classes that only answers "ok":
   * workerd's own start; the difference is the edgecert module's compile and evaluation.
   */
  emptyReadyMs: number;
  /** The first `GET /.well-known/acme-challenge/<token>` after ready, median (an unknown token: 404). */
  firstChallengeMs: number;
  /** The same request again (warm). */
  warmChallengeMs: number;
}

const freePort = () =>
  new Promise<number>((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });

/** A Worker with wrangler.toml's bindings and empty Durable Object classes of the same names. */
const EMPTY_WORKER = [
  'import { DurableObject } from "cloudflare:workers";',
  ...["EdgecertStorageObject", "RenewalIndex", "CertificateRenewer", "RenewalDispatcher", "CaBudgetQueue", "WebhookOutbox"].map((name) => `export class ${name} extends DurableObject {}`),
  'export default { fetch() { return new Response("ok"); } };',
].join("\n");

/** Starts the Worker `runs` times (fresh workerd each) and an empty one as many times. */
export async function workerColdStart(pebble: PebbleInstance, runs: number): Promise<WorkerColdStart> {
  const ready: number[] = [];
  const empty: number[] = [];
  const first: number[] = [];
  const warm: number[] = [];
  // Once outside the figures: the Worker is bundled once per process.
  await (await startWorker(pebble, { port: await freePort() })).stop();
  for (let r = 0; r < runs; r++) {
    let started = performance.now();
    const worker = await startWorker(pebble, { port: await freePort() });
    ready.push(performance.now() - started);
    try {
      const path = new URL(`/.well-known/acme-challenge/cold-${r}-token`, worker.url);
      for (const into of [first, warm]) {
        started = performance.now();
        await (await fetch(path)).arrayBuffer();
        into.push(performance.now() - started);
      }
    } finally {
      await worker.stop();
    }
    started = performance.now();
    const { workerOptions } = unstable_getMiniflareWorkerOptions(WRANGLER_CONFIG);
    const mf = new Miniflare({ ...(workerOptions as object), modules: true, modulesRules: [], script: EMPTY_WORKER, host: "127.0.0.1", port: await freePort(), cf: false } as MiniflareOptions);
    await mf.ready;
    empty.push(performance.now() - started);
    await mf.dispose();
  }
  const ms = (xs: number[]) => Math.round(median(xs) * 10) / 10;
  return { runs, readyMs: ms(ready), emptyReadyMs: ms(empty), firstChallengeMs: ms(first), warmChallengeMs: ms(warm) };
}
