import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { PebbleInstance } from "../test/support/pebble.ts";
import type { FaultProxy } from "../test/support/fault-proxy.ts";
import type { Sample } from "./measure.ts";

/**
 * One issuance by Debian's `lego` with a new account, like ours; through the counting proxy when
 * given one (requests), else straight to Pebble. CPU and peak memory come from GNU time.
 */
export async function legoIssuance(
  pebble: PebbleInstance,
  proxy: FaultProxy | undefined,
  names: string[],
  challenge: "http-01" | "dns-01",
): Promise<Sample> {
  const dir = mkdtempSync(join(tmpdir(), "edgecert-lego-"));
  try {
    // Through the counting proxy, or straight to Pebble (for wall time and CPU).
    writeFileSync(join(dir, "ca.pem"), proxy ? proxy.caPem! : pebble.caPem);
    const args = ["--server", proxy ? proxy.directoryUrl : pebble.directoryUrl, "--email", "bench@example.test", "--accept-tos", "--path", join(dir, "data")];
    for (const n of names) args.push("--domains", n);
    const env: NodeJS.ProcessEnv = { ...process.env, LEGO_CA_CERTIFICATES: join(dir, "ca.pem") };
    if (challenge === "http-01") {
      args.push("--http", "--http.port", `127.0.0.1:${pebble.httpPort}`);
    } else {
      // lego's exec provider: a script that sets and clears TXT records in pebble-challtestsrv.
      const script = join(dir, "dns.sh");
      writeFileSync(
        script,
        `#!/bin/sh\ncase "$1" in\n present) curl -s -X POST -d "{\\"host\\":\\"$2\\",\\"value\\":\\"$3\\"}" ${pebble.challtestsrvUrl}/set-txt ;;\n cleanup) curl -s -X POST -d "{\\"host\\":\\"$2\\"}" ${pebble.challtestsrvUrl}/clear-txt ;;\nesac\n`,
        { mode: 0o755 },
      );
      Object.assign(env, { EXEC_PATH: script, EXEC_POLLING_INTERVAL: "1", EXEC_PROPAGATION_TIMEOUT: "60" });
      args.push("--dns", "exec", "--dns.resolvers", `127.0.0.1:${pebble.dnsPort}`, "--dns.disable-cp");
    }
    args.push("run");
    const before = proxy?.requests.length ?? 0;
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
      requests: proxy ? proxy.requests.length - before : NaN,
      wallMs,
      cpuMs: m ? (Number(m[1]) + Number(m[2])) * 1000 : NaN,
      peakRssMiB: m ? Number(m[3]) / 1024 : NaN,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
