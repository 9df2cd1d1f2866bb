// The hub's pull API under a fleet sharing one deploy token (issue 23): 1,000 pulls sent at once
// from this process to the Worker in workerd (Miniflare on 127.0.0.1), one pattern token, the
// certificate issued by Pebble and sealed at rest. Full pulls (200, chain + key) and conditional ones
// (If-None-Match → 304) measured apart. Latency is from sending a request to reading its whole body.
import { Agent, fetch as undiciFetch } from "undici";
import type { PebbleInstance } from "../test/support/pebble.ts";
import { settled, startWorker } from "../test/support/worker.ts";
import { median } from "./measure.ts";

/** One burst's figures (medians over the runs). */
export interface HubPullRow {
  kind: "full (200)" | "conditional (304)";
  concurrent: number;
  runs: number;
  pullsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  /** Answers other than the expected status, summed over the runs (must be 0). */
  errors: number;
}

function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)] ?? NaN;
}

/** Runs `runs` bursts of `concurrent` pulls of each kind. */
export async function hubPullBench(pebble: PebbleInstance, runs: number, concurrent = 1_000): Promise<HubPullRow[]> {
  const worker = await startWorker(pebble, { vars: { STORAGE_ENCRYPTION_KEY: "YmVuY2gta2V5LXdpdGgtbW9yZS10aGFuLTI1Ni1iaXRzLW9mLWVudHJvcHk=" } });
  try {
    const added = await worker.admin("/admin/certificates", { method: "POST", body: JSON.stringify({ names: ["pull.bench.test"] }) });
    const { id } = (await added.json()) as { id: string };
    if ((await settled(worker, id)).status !== "valid") throw new Error("the bench certificate was not issued");
    const created = await worker.admin("/admin/tokens", { method: "POST", body: JSON.stringify({ scope: { pattern: "*.bench.test" } }) });
    const { token } = (await created.json()) as { token: string };
    const url = new URL("/v1/certificates/pull.bench.test", worker.url);
    const first = await fetch(url, { headers: { authorization: `Bearer ${token}` } });
    const etag = first.headers.get("etag") ?? "";
    await first.arrayBuffer();

    const problems = new Map<string, number>();
    const burst = async (headers: Record<string, string>, expected: number) => {
      // A fresh connection per pull, as from 1,000 servers: none reused from the burst before.
      const agent = new Agent({ connections: null, keepAliveTimeout: 60_000 });
      const t0 = performance.now();
      const answers = await Promise.all(
        Array.from({ length: concurrent }, async () => {
          const start = performance.now();
          const res = await undiciFetch(url, { headers: { authorization: `Bearer ${token}`, ...headers }, dispatcher: agent }).catch((err: unknown) => String((err as { cause?: unknown }).cause ?? err));
          const text = typeof res === "string" ? res : `${res.status} ${(await res.text()).slice(0, 120)}`;
          const ok = typeof res !== "string" && res.status === expected;
          if (!ok) problems.set(text, (problems.get(text) ?? 0) + 1);
          return { ms: performance.now() - start, ok };
        }),
      );
      const wall = performance.now() - t0;
      await agent.close();
      return { perSecond: concurrent / (wall / 1000), p50: percentile(answers.map((a) => a.ms), 50), p99: percentile(answers.map((a) => a.ms), 99), errors: answers.filter((a) => !a.ok).length };
    };
    const rows: HubPullRow[] = [];
    for (const [kind, headers, expected] of [
      ["full (200)", {}, 200],
      ["conditional (304)", { "if-none-match": etag }, 304],
    ] as const) {
      await burst(headers, expected); // warm-up: isolate, Durable Objects, connections
      const got = [];
      for (let r = 0; r < runs; r++) got.push(await burst(headers, expected));
      rows.push({
        kind,
        concurrent,
        runs,
        pullsPerSecond: Math.round(median(got.map((g) => g.perSecond))),
        p50Ms: Math.round(median(got.map((g) => g.p50))),
        p99Ms: Math.round(median(got.map((g) => g.p99))),
        errors: got.reduce((n, g) => n + g.errors, 0),
      });
    }
    if (problems.size) console.log(`hub pulls: unexpected answers ${JSON.stringify([...problems])}`);
    return rows;
  } finally {
    await worker.stop();
  }
}
