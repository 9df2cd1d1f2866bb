// npm run bench — requests, wall time, CPU and memory of edgecert issuances against a local Pebble.
// Prints a table and writes bench/results.json. (lego side by side and bundle sizes: see issue 8.)
import { writeFileSync } from "node:fs";
import { AcmeClient, Http01Solver, dns01Solver, generateKeyPair, obtainCertificate, type Solver } from "../src/index.ts";
import { ensurePebble } from "../scripts/ensure-pebble.ts";
import { serveHttp01 } from "../test/support/challenge-servers.ts";
import { startPebble } from "../test/support/pebble.ts";
import { countingFetch } from "../test/support/request-counter.ts";

const RUNS = Number(process.env.BENCH_RUNS ?? 5);
const SIZES = [1, 10, 100];

ensurePebble();
const pebble = await startPebble({ noSleep: true });
const http01 = new Http01Solver();
const http = await serveHttp01(pebble.httpPort, http01);
const dns01: Solver = dns01Solver({ setTxt: (n, v) => pebble.setTxt(n, v), removeTxt: (n) => pebble.clearTxt(n) });

interface Row {
  challenge: string;
  names: number;
  requests: number;
  budget: number;
  wallMsMedian: number;
  cpuMsMedian: number;
  peakRssMiB: number;
}
const rows: Row[] = [];
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

let run = 0;
for (const [challenge, solver] of [["http-01", http01], ["dns-01", dns01]] as const) {
  for (const n of SIZES) {
    const walls: number[] = [];
    const cpus: number[] = [];
    let requests = 0;
    let peak = 0;
    for (let r = 0; r < RUNS; r++) {
      run++;
      const names = Array.from({ length: n }, (_, i) => `b${run}-${i}.example.test`);
      // Key generation is excluded from CPU: keys are made before the clock starts.
      const accountKey = await generateKeyPair("ES256");
      const certificateKey = await generateKeyPair("ES256");
      const counter = countingFetch(pebble.fetch);
      const client = new AcmeClient({ directoryUrl: pebble.directoryUrl, accountKey, fetch: counter.fetch });
      const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 5);
      const cpu0 = process.cpuUsage();
      const t0 = performance.now();
      await obtainCertificate({ client, names, solvers: { [challenge]: solver }, certificateKey });
      walls.push(performance.now() - t0);
      const cpu = process.cpuUsage(cpu0);
      clearInterval(sampler);
      cpus.push((cpu.user + cpu.system) / 1000);
      requests = counter.count();
    }
    const row: Row = {
      challenge,
      names: n,
      requests,
      budget: 2 * n + 8,
      wallMsMedian: Math.round(median(walls)),
      cpuMsMedian: Math.round(median(cpus) * 10) / 10,
      peakRssMiB: Math.round(peak / 2 ** 20),
    };
    rows.push(row);
    console.log(JSON.stringify(row));
  }
}
await http.close();
await pebble.stop();

console.log("\nedgecert against Pebble 2.4 (PEBBLE_VA_NOSLEEP=1), new account per issuance, median of", RUNS);
console.log("challenge | names | requests (≤2N+8) | wall ms | CPU ms (process, incl. test servers) | peak RSS MiB");
for (const r of rows) {
  console.log(`${r.challenge.padEnd(9)} | ${String(r.names).padStart(5)} | ${String(r.requests).padStart(4)} (${r.budget}) ${r.requests <= r.budget ? "ok  " : "MISS"} | ${String(r.wallMsMedian).padStart(7)} | ${String(r.cpuMsMedian).padStart(8)} | ${r.peakRssMiB}`);
}
writeFileSync(new URL("./results.json", import.meta.url), JSON.stringify({ date: new Date().toISOString(), runs: RUNS, rows }, null, 2));
console.log("\nwritten to bench/results.json");
