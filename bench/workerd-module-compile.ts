// What workerd spends on a module of a Worker's upload that the http-01 path never imports (issue 24:
// "keep the http-01 path from evaluating what only the dashboard, the hub and webhooks need, if the
// platform allows it"). Four Workers that answer "ok", started in turn (interleaved, fresh workerd each):
// alone; with the edgecert Worker's script uploaded beside it as a second module nothing imports; with it
// imported statically; with it imported dynamically by the fetch handler (not called before ready).
// Reports workerd's CPU from start to ready (user + system, /proc schedstat) and wall time, medians.
// In npm run bench; alone: npx tsx bench/workerd-module-compile.ts (BENCH_RUNS, default 15), under nice -n -15.
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { Miniflare } from "miniflare";
import { unstable_readConfig } from "wrangler";
import { bundleWorker } from "../scripts/bundle-worker.ts";
import { WRANGLER_CONFIG } from "../test/support/worker.ts";
import { freePort } from "../test/support/redis-server.ts";
import { median } from "./measure.ts";
import { serverCpuNs } from "./process-usage.ts";

/** Medians over `runs` starts of each variant: workerd CPU and wall time to ready, in ms. */
export async function workerdModuleCompile(runs: number): Promise<Record<string, { cpuMs: number; readyMs: number }>> {
  const script = readFileSync(await bundleWorker(), "utf8");
  const compatibilityDate = unstable_readConfig({ config: WRANGLER_CONFIG }).compatibility_date!;
  const module = (path: string, contents: string) => ({ type: "ESModule" as const, path: `/w/${path}`, contents });
  const ok = 'export default { fetch() { return new Response("ok"); } };';
  const variants = {
    alone: [module("index.mjs", ok)],
    uploadedNotImported: [module("index.mjs", ok), module("edgecert.mjs", script)],
    importedStatically: [module("index.mjs", `import "./edgecert.mjs";\n${ok}`), module("edgecert.mjs", script)],
    importedDynamically: [module("index.mjs", 'export default { async fetch() { await import("./edgecert.mjs"); return new Response("ok"); } };'), module("edgecert.mjs", script)],
  };
  const cpu = new Map<string, number[]>();
  const wall = new Map<string, number[]>();
  // One round more than counted: the first warms the page cache and Miniflare.
  for (let r = 0; r <= runs; r++) {
    const order = r % 2 ? Object.entries(variants) : Object.entries(variants).reverse();
    for (const [name, modules] of order) {
      const cpuBefore = serverCpuNs("workerd");
      const started = performance.now();
      const mf = new Miniflare({ modules, modulesRoot: "/w", compatibilityDate, host: "127.0.0.1", port: await freePort(), cf: false });
      await mf.ready;
      const readyMs = performance.now() - started;
      const cpuMs = (serverCpuNs("workerd") - cpuBefore) / 1e6;
      await mf.dispose();
      if (r === 0) continue;
      cpu.set(name, [...(cpu.get(name) ?? []), cpuMs]);
      wall.set(name, [...(wall.get(name) ?? []), readyMs]);
    }
  }
  const ms = (xs: number[]) => Math.round(median(xs) * 10) / 10;
  return Object.fromEntries(Object.keys(variants).map((name) => [name, { cpuMs: ms(cpu.get(name)!), readyMs: ms(wall.get(name)!) }]));
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const runs = Number(process.env.BENCH_RUNS ?? 15);
  const result = await workerdModuleCompile(runs);
  for (const [name, { cpuMs, readyMs }] of Object.entries(result)) console.log(`${name}: workerd CPU to ready ${cpuMs} ms, ready ${readyMs} ms (median of ${runs})`);
}
