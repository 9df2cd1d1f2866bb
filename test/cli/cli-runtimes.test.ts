import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runCli, show, startCliBed, verifyLive, type CliBed, type Runtime } from "./cli-bed.ts";

/**
 * The same `edgecert` source run by Deno (`deno run -A src/cli/main.ts`) and Bun (`bun src/cli/main.ts`),
 * and Node's bundle, against one Pebble: issue over http-01, tls-alpn-01 and dns-01 (--dns-exec),
 * files checked with openssl, renew as a no-op.
 */
let bed: CliBed;
beforeAll(async () => {
  bed = await startCliBed();
});
afterAll(async () => {
  await bed?.stop();
});

/**
 * Deno's TLS (rustls/webpki) refuses the fault proxy's self-signed certificate (a CA certificate used
 * as the server's own, which webpki rejects), so Deno talks to Pebble directly, whose HTTPS
 * certificate is a leaf under a CA. Request counts then come from the CLI's own count (`requests`).
 */
const common = (dir: string, runtime: Runtime) =>
  runtime === "deno"
    ? ["--dir", dir, "--server", bed.pebble.directoryUrl, "--ca-file", bed.pebbleCaFile]
    : ["--dir", dir, "--server", bed.proxy.directoryUrl, "--ca-file", bed.caFile];
const hookTo = (log: string) => `echo "$EDGECERT_SERIAL" >> ${log}`;
const lines = async (file: string) => (await readFile(file, "utf8").catch(() => "")).trim().split("\n").filter(Boolean);


describe.each(["deno", "bun"] as const)("edgecert in %s", (runtime: Runtime) => {
  it("issue over http-01 with a deploy hook; renew: nothing due, no request, no hook", async () => {
    const dir = join(bed.dir, `${runtime}-http`);
    const log = join(bed.dir, `${runtime}-http.log`);
    const name = `${runtime}.example.test`;
    const issue = await runCli(bed, runtime, ["issue", "-d", name, "-d", `www.${name}`, "--agree-tos", "--http", "--http-port", String(bed.pebble.httpPort), "--http-address", "127.0.0.1", ...common(dir, runtime), "--deploy-hook", hookTo(log), "--json"]);
    expect(issue.code, show(issue)).toBe(0);
    expect(issue.json).toMatchObject({ ok: true, obtained: true, changed: true });
    await verifyLive(bed, join(dir, "live", name));
    expect(await lines(log)).toEqual([issue.json!.serialNumber]);
    const renew = await runCli(bed, runtime, ["renew", ...common(dir, runtime), "--json"]);
    expect(renew.code, show(renew)).toBe(0);
    expect(renew.json).toMatchObject({ ok: true, certificates: [{ name, status: "not-due" }] });
    expect(renew.requests).toBe(0);
    expect(renew.json!.requests).toBe(0);
    expect(await lines(log)).toHaveLength(1);
    console.log(`[cli] ${runtime}: issue ${String(issue.json!.requests)} requests, renew (nothing due) ${String(renew.json!.requests)}`);
  });

  it("issue over dns-01 through --dns-exec (challtestsrv)", async () => {
    const dir = join(bed.dir, `${runtime}-dns`);
    const hook = `${process.execPath} ${join(import.meta.dirname, "challtestsrv-hook.mjs")}`;
    const run = await runCli(bed, runtime, ["issue", "-d", `*.dns-${runtime}.example.test`, "--agree-tos", "--dns-exec", hook, ...common(dir, runtime), "--json"], { CHALLTESTSRV_URL: bed.pebble.challtestsrvUrl });
    expect(run.code, show(run)).toBe(0);
    await verifyLive(bed, join(dir, "live", `_wildcard.dns-${runtime}.example.test`));
  });
});

it("tls-alpn-01 in deno: refused up front with what to use instead (exit 2, no request)", async () => {
  const run = await runCli(bed, "deno", ["issue", "-d", "alpn-deno.example.test", "--agree-tos", "--tls-alpn", "--tls-port", String(bed.pebble.tlsPort), ...common(join(bed.dir, "deno-alpn"), "deno"), "--json"]);
  expect(run.code, show(run)).toBe(2);
  expect(run.json).toMatchObject({ ok: false, requests: 0, error: expect.stringContaining("--tls-alpn does not work under Deno") });
});

describe.each(["node", "bun"] as const)("tls-alpn-01 in %s", (runtime: Runtime) => {
  it("issue over tls-alpn-01 on a port of its own", async () => {
    const dir = join(bed.dir, `${runtime}-alpn`);
    const name = `alpn-${runtime}.example.test`;
    const run = await runCli(bed, runtime, ["issue", "-d", name, "--agree-tos", "--tls-alpn", "--tls-port", String(bed.pebble.tlsPort), "--tls-address", "127.0.0.1", ...common(dir, runtime), "--json"]);
    expect(run.code, show(run)).toBe(0);
    await verifyLive(bed, join(dir, "live", name));
  });
});
