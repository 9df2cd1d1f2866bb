import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { PebbleInstance } from "../test/support/pebble.ts";
import type { Sample } from "./measure.ts";

/** A proxy in front of Pebble: the counting one (its `requests`), or the latency proxy (none). */
export interface LegoProxy {
  directoryUrl: string;
  /** The CA to trust for it (Pebble's when the proxy forwards TLS unchanged). */
  caPem?: string | undefined;
  requests?: readonly unknown[];
}

/**
 * One issuance by Debian's `lego` with a new account, like ours; through a proxy when given one
 * (requests, when it counts them), else straight to Pebble. CPU and peak memory come from GNU time.
 */
export async function legoIssuance(
  pebble: PebbleInstance,
  proxy: LegoProxy | undefined,
  names: string[],
  challenge: "http-01" | "dns-01",
  dnsAdapterUrl?: string,
): Promise<Sample> {
  const dir = mkdtempSync(join(tmpdir(), "edgecert-lego-"));
  try {
    // Through the counting proxy, or straight to Pebble (for wall time and CPU).
    writeFileSync(join(dir, "ca.pem"), proxy?.caPem ?? pebble.caPem);
    const args = ["--server", proxy ? proxy.directoryUrl : pebble.directoryUrl, "--email", "bench@example.test", "--accept-tos", "--path", join(dir, "data")];
    for (const n of names) args.push("--domains", n);
    const env: NodeJS.ProcessEnv = { ...process.env, LEGO_CA_CERTIFICATES: join(dir, "ca.pem") };
    if (challenge === "http-01") {
      args.push("--http", "--http.port", `127.0.0.1:${pebble.httpPort}`);
    } else {
      // lego's httpreq provider (not a sequential one: exec waits 60 s between names) pointed at an
      // adapter that publishes into pebble-challtestsrv.
      Object.assign(env, { HTTPREQ_ENDPOINT: dnsAdapterUrl!, HTTPREQ_POLLING_INTERVAL: "1", HTTPREQ_PROPAGATION_TIMEOUT: "60" });
      args.push("--dns", "httpreq", "--dns.resolvers", `127.0.0.1:${pebble.dnsPort}`, "--dns.disable-cp");
    }
    args.push("run");
    const before = proxy?.requests?.length ?? 0;
    const started = performance.now();
    const { code, stderr } = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
      const child = spawn("/usr/bin/time", ["-f", "TIME %U %S %M", "lego", ...args], { env });
      let err = "";
      child.stderr.on("data", (d: Buffer) => (err += d.toString()));
      const timer = setTimeout(() => child.kill("SIGKILL"), 15 * 60_000);
      child.on("close", (c) => {
        clearTimeout(timer);
        resolve({ code: c, stderr: err });
      });
    });
    const wallMs = performance.now() - started;
    const m = /TIME ([\d.]+) ([\d.]+) (\d+)/.exec(stderr);
    return {
      ok: code === 0,
      requests: proxy?.requests ? proxy.requests.length - before : NaN,
      wallMs,
      cpuMs: m ? (Number(m[1]) + Number(m[2])) * 1000 : NaN,
      peakRssMiB: m ? Number(m[3]) / 1024 : NaN,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * A local endpoint for lego's httpreq DNS provider (`POST /present` and `/cleanup` with
 * `{ fqdn, value }`) that sets and clears the TXT records in pebble-challtestsrv.
 */
export async function startLegoDnsAdapter(pebble: PebbleInstance): Promise<{ url: string; close(): Promise<void> }> {
  const { createServer } = await import("node:http");
  const server = createServer((req, res) => {
    let body = "";
    req.on("data", (d: Buffer) => (body += d.toString()));
    req.on("end", () => {
      void (async () => {
        try {
          const { fqdn, value } = JSON.parse(body) as { fqdn: string; value: string };
          if (req.url === "/present") await pebble.setTxt(fqdn, value);
          else if (req.url === "/cleanup") await pebble.clearTxt(fqdn);
          res.writeHead(200).end();
        } catch {
          res.writeHead(400).end();
        }
      })();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
  const address = server.address() as { port: number };
  return { url: `http://127.0.0.1:${address.port}`, close: () => new Promise((resolve) => server.close(() => resolve())) };
}
