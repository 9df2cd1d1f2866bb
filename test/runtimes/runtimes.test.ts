import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startPebble, type PebbleInstance } from "../support/pebble.ts";
import { findRuntime, runScript, type ScriptRun } from "./runtime-binaries.ts";

/**
 * edgecert under Deno and Bun: each runtime runs the smoke scripts in this folder against a Pebble
 * started here, and these tests assert on their exit codes and JSON reports. A runtime whose binary
 * does not run fails these tests: the binaries come with the `deno` and `bun` devDependencies.
 */

const SCRIPT_TIMEOUT_MS = 40_000;
let pebble: PebbleInstance;
let dir: string;
let env: Record<string, string>;
let runs = 0;

beforeAll(async () => {
  pebble = await startPebble();
  dir = await mkdtemp(join(tmpdir(), "edgecert-runtimes-"));
  await writeFile(join(dir, "ca.pem"), pebble.caPem);
  await writeFile(join(dir, "root.pem"), (await pebble.rootsPem())[0]!);
  env = {
    EDGECERT_DIRECTORY_URL: pebble.directoryUrl,
    EDGECERT_CA_FILE: join(dir, "ca.pem"),
    EDGECERT_ROOT_FILE: join(dir, "root.pem"),
    EDGECERT_HTTP_PORT: String(pebble.httpPort),
  };
});
afterAll(async () => {
  await pebble?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** Runs one smoke script; every run gets its own names. */
async function smoke(runtime: "deno" | "bun", script: string, extra: { flags?: string[]; args?: string[] } = {}): Promise<ScriptRun> {
  const binary = findRuntime(runtime);
  if ("error" in binary) throw new Error(binary.error);
  const path = join("test", "runtimes", script);
  const args = runtime === "deno" ? ["run", "-A", "--no-lock", ...(extra.flags ?? []), path, ...(extra.args ?? [])] : ["run", path, ...(extra.args ?? [])];
  const run = await runScript(binary.path, args, { ...env, EDGECERT_TAG: `t${++runs}-${process.pid}` }, SCRIPT_TIMEOUT_MS);
  const context = `${runtime} ${args.join(" ")}\n--- stdout\n${run.stdout}\n--- stderr\n${run.stderr}`;
  expect(run.timedOut, `timed out\n${context}`).toBe(false);
  expect(run.code, context).toBe(0);
  expect(run.reports.at(-1), context).toMatchObject({ check: "done", ok: true, runtime });
  return run;
}

const reportOf = (run: ScriptRun, check: string) => run.reports.find((r) => r.check === check);

describe.each(["deno", "bun"] as const)("%s", (runtime) => {
  it("runs the core from src/index.ts: keys, JWS, CSR and a real issuance", async () => {
    const run = await smoke(runtime, "core-smoke.ts");
    expect(reportOf(run, "webcrypto")).toBeDefined();
    const issuance = reportOf(run, "issuance");
    expect(issuance?.names).toEqual(expect.arrayContaining([expect.stringMatching(new RegExp(`^${runtime}\\.`)), expect.stringMatching(new RegExp(`^www\\.${runtime}\\.`))]));
    expect(issuance?.serialNumber).toMatch(/^[0-9a-f]+$/);
  });

  it("serves HTTPS from serveWithCertificates and swaps in a renewal without closing the port", async () => {
    // Deno can overlap the old and new server only with --unstable-net (reusePort on TLS listeners).
    const run = await smoke(runtime, "serve-smoke.ts", runtime === "deno" ? { flags: ["--unstable-net"], args: ["reuse-port"] } : {});
    const renewal = reportOf(run, "renewal");
    expect(renewal?.after).not.toBe(renewal?.before);
    expect(renewal?.port).toBe(reportOf(run, "served")?.port);
    // The port kept listening: no connection was refused. (A connection queued on the old listener
    // at the moment it closes may be reset; that is reported, not asserted.)
    expect(renewal).toMatchObject({ refused: 0, other: 0 });
  });
});

it("deno without --unstable-net re-serves a renewal by shutting down and binding again", async () => {
  const run = await smoke("deno", "serve-smoke.ts");
  const renewal = reportOf(run, "renewal");
  expect(renewal).toMatchObject({ reusePort: false });
  expect(renewal?.after).not.toBe(renewal?.before);
  expect(renewal?.port).toBe(reportOf(run, "served")?.port);
});

it("deno runs edgecert/tls/node too: SNI certificates from the manager, a renewal served on the same listener", async () => {
  const run = await smoke("deno", "node-helper-smoke.ts");
  const result = reportOf(run, "node-helper");
  expect(result?.after).not.toBe(result?.before);
});
