import { Miniflare, type MiniflareOptions } from "miniflare";
import { unstable_getMiniflareWorkerOptions } from "wrangler";
import type { PebbleInstance } from "../test/support/pebble.ts";
import { startWorker, WRANGLER_CONFIG } from "../test/support/worker.ts";
import { freePort } from "../test/support/redis-server.ts";
import { median } from "./measure.ts";
import { serverCpuNs } from "./process-usage.ts";

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
  /**
   * workerd's CPU from its start to ready, median (user + system of its threads, /proc schedstat): the
   * Worker, and the empty one. Less sensitive to the machine's load than the wall times; the
   * difference is what compiling and evaluating the edgecert script costs workerd.
   */
  readyCpuMs: number;
  emptyReadyCpuMs: number;
  /** The first `GET /.well-known/acme-challenge/<token>` after ready, median (an unknown token: 404). */
  firstChallengeMs: number;
  /** The same request again (warm). */
  warmChallengeMs: number;
}

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
  const readyCpu: number[] = [];
  const emptyCpu: number[] = [];
  const first: number[] = [];
  const warm: number[] = [];
  // Once outside the figures: the Worker is bundled once per process.
  await (await startWorker(pebble, { port: await freePort() })).stop();
  for (let r = 0; r < runs; r++) {
    let cpu = serverCpuNs("workerd");
    let started = performance.now();
    const worker = await startWorker(pebble, { port: await freePort() });
    ready.push(performance.now() - started);
    readyCpu.push((serverCpuNs("workerd") - cpu) / 1e6);
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
    cpu = serverCpuNs("workerd");
    started = performance.now();
    const { workerOptions } = unstable_getMiniflareWorkerOptions(WRANGLER_CONFIG);
    const mf = new Miniflare({ ...(workerOptions as object), modules: true, modulesRules: [], script: EMPTY_WORKER, host: "127.0.0.1", port: await freePort(), cf: false } as MiniflareOptions);
    await mf.ready;
    empty.push(performance.now() - started);
    emptyCpu.push((serverCpuNs("workerd") - cpu) / 1e6);
    await mf.dispose();
  }
  const ms = (xs: number[]) => Math.round(median(xs) * 10) / 10;
  return { runs, readyMs: ms(ready), emptyReadyMs: ms(empty), readyCpuMs: ms(readyCpu), emptyReadyCpuMs: ms(emptyCpu), firstChallengeMs: ms(first), warmChallengeMs: ms(warm) };
}
