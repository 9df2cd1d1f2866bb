import { spawn } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";
import type { PebbleInstance } from "../test/support/pebble.ts";
import { startLatencyProxy } from "../test/support/latency-proxy.ts";
import { legoIssuance } from "./lego.ts";
import { median } from "./measure.ts";

/** One issuance measured at a distance. */
export interface WanSample {
  ok: boolean;
  wallMs: number;
  requests: number;
  /** Requests made only to get a nonce. */
  nonceRequests: number;
  /** The process's CPU time (user + system). */
  cpuMs: number;
  error?: string;
}

/** Medians of the WAN samples of one cell. */
export interface WanCell {
  names: number;
  rttMs: number;
  runs: number;
  succeeded: number;
  wallMs: number;
  /** Wall time in round trips. */
  rtts: number;
  requests: number;
  /** Requests made only to get a nonce (median). */
  nonceRequests: number;
  /** TCP connections opened per issuance (each costs a TLS handshake). */
  connections: number;
  /** CPU time of the fresh process (median). */
  cpuMs: number;
  /** Debian's lego through the same proxy, when installed: fresh process and account each run too. */
  lego?: { runs: number; succeeded: number; wallMs: number; rtts: number; cpuMs: number };
}

/**
 * The WAN cells: each issuance runs in a fresh Node process (bundled once with esbuild, so no
 * TypeScript loader is timed) talking to Pebble through a TCP proxy that adds `rttMs` of round trip;
 * wall time from spawn to exit.
 */
export async function wanCells(
  pebble: PebbleInstance,
  options: {
    sizes: number[];
    runs: number;
    rttMs: number;
    entry?: string;
    names: (n: number) => string[];
    /** Runs of lego per size beside ours (0 or absent: none); lego's 100-name order takes minutes. */
    legoRuns?: (n: number) => number;
  },
): Promise<WanCell[]> {
  const dir = await mkdtemp(join(tmpdir(), "edgecert-wan-"));
  try {
    const bundle = join(dir, "wan-child.mjs");
    await build({
      entryPoints: [options.entry ?? fileURLToPath(new URL("./wan-child.ts", import.meta.url))],
      bundle: true,
      platform: "node",
      format: "esm",
      target: "node20",
      outfile: bundle,
      logLevel: "silent",
    });
    const caFile = join(dir, "ca.pem");
    await writeFile(caFile, pebble.caPem);
    const upstream = new URL(pebble.directoryUrl);
    const proxy = await startLatencyProxy({ host: upstream.hostname, port: Number(upstream.port) }, options.rttMs);
    const cells: WanCell[] = [];
    try {
      for (const n of options.sizes) {
        const samples: WanSample[] = [];
        const connectionsBefore = proxy.connections;
        for (let r = 0; r < options.runs; r++) {
          samples.push(await runChild(bundle, caFile, { directoryUrl: `https://127.0.0.1:${proxy.port}${upstream.pathname}`, httpPort: pebble.httpPort, names: options.names(n) }));
        }
        const ok = samples.filter((s) => s.ok);
        const wallMs = Math.round(median(ok.map((s) => s.wallMs)));
        cells.push({
          names: n,
          rttMs: options.rttMs,
          runs: options.runs,
          succeeded: ok.length,
          wallMs,
          rtts: Math.round((wallMs / options.rttMs) * 10) / 10,
          requests: median(ok.map((s) => s.requests)),
          nonceRequests: median(ok.map((s) => s.nonceRequests)),
          connections: Math.round((proxy.connections - connectionsBefore) / options.runs),
          cpuMs: 0,
        });
        const cell = cells.at(-1)!;
        cell.cpuMs = median(ok.map((s) => s.cpuMs));
        const legoRuns = options.legoRuns?.(n) ?? 0;
        if (legoRuns > 0) {
          const lego = [];
          const through = { directoryUrl: `https://127.0.0.1:${proxy.port}${upstream.pathname}`, caPem: pebble.caPem };
          for (let r = 0; r < legoRuns; r++) lego.push(await legoIssuance(pebble, through, options.names(n), "http-01"));
          const legoOk = lego.filter((s) => s.ok);
          const legoWall = Math.round(median(legoOk.map((s) => s.wallMs)));
          cell.lego = {
            runs: legoRuns,
            succeeded: legoOk.length,
            wallMs: legoWall,
            rtts: Math.round((legoWall / options.rttMs) * 10) / 10,
            cpuMs: Math.round(median(legoOk.map((s) => s.cpuMs))),
          };
        }
        const failed = samples.find((s) => !s.ok);
        if (failed) console.log(`WAN N=${n}: ${samples.length - ok.length} failed run(s): ${failed.error}`);
      }
    } finally {
      await proxy.close();
    }
    return cells;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

function runChild(bundle: string, caFile: string, job: { directoryUrl: string; httpPort: number; names: string[] }): Promise<WanSample> {
  return new Promise((resolve) => {
    const started = performance.now();
    const child = spawn(process.execPath, [bundle, JSON.stringify(job)], {
      env: { ...process.env, NODE_EXTRA_CA_CERTS: caFile },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    let err = "";
    child.stdout.on("data", (c: Buffer) => (out += c.toString()));
    child.stderr.on("data", (c: Buffer) => (err += c.toString()));
    // A watchdog: Pebble 2.4 can lock up under load; a hang is reported, not waited out.
    const watchdog = setTimeout(() => child.kill("SIGKILL"), 120_000);
    child.on("exit", () => {
      if (process.env.WAN_TRACE) console.error(err);
      clearTimeout(watchdog);
      const wallMs = performance.now() - started;
      try {
        const line = JSON.parse(out.trim().split("\n").pop() ?? "") as { ok: boolean; error?: string; requests: number; byMethod: Record<string, number>; nonceRequests: number; cpuMs: number };
        resolve({ ok: line.ok, wallMs, requests: line.requests, nonceRequests: line.nonceRequests, cpuMs: line.cpuMs, ...(line.error ? { error: line.error } : {}) });
      } catch {
        resolve({ ok: false, wallMs, requests: 0, nonceRequests: 0, cpuMs: NaN, error: `child printed no result: ${err.slice(-500)}` });
      }
    });
  });
}
