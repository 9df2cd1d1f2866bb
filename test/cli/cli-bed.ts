/**
 * Test bed for the CLI: Pebble behind the fault proxy (which adds ARI, RFC 9773, that Pebble 2.4
 * lacks, and counts every request the CLI sends), and a way to run the real `edgecert` executable as
 * a child process in Node, Deno or Bun.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { build } from "esbuild";
import { mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "vitest";
import { startFaultProxy, type FaultProxy } from "../support/fault-proxy.ts";
import { openssl } from "../support/openssl.ts";
import { startPebble, type PebbleInstance } from "../support/pebble.ts";
import { findRuntime } from "../runtimes/runtime-binaries.ts";

const root = join(import.meta.dirname, "..", "..");
export const MAIN = join(root, "src", "cli", "main.ts");

/** The runtimes the CLI runs in. */
export type Runtime = "node" | "deno" | "bun";

/** Pebble + ARI proxy + a temp dir holding the proxy's CA for `--ca-file`. */
export interface CliBed {
  pebble: PebbleInstance;
  proxy: FaultProxy;
  dir: string;
  caFile: string;
  /** Pebble's own HTTPS CA, for runs that talk to Pebble directly. */
  pebbleCaFile: string;
  /** The CA root(s) Pebble issues under, as a PEM file (for `openssl verify`). */
  rootFile: string;
  /**
   * Sets the ARI window the proxy answers (RFC 9773 §4.2) and the Retry-After it sends; with `times`,
   * only the next `times` renewalInfo requests get it and later ones the default window far ahead.
   */
  ariWindow(start: Date, end: Date, options?: { retryAfterSeconds?: number; times?: number }): void;
  /**
   * ARI answered per certificate: the first certificate asked about from now on gets a window in the
   * past ("renew now"), every other one the default window far ahead. Deterministic whichever host asks first.
   */
  ariRenewFirstOnly(): void;
  /** The CLI bundled for Node (one file, so a run starts in a fraction of a second). */
  nodeBundle: string;
  stop(): Promise<void>;
}

/** Options of {@link startCliBed}. */
export interface CliBedOptions {
  /**
   * Puts another ACME server between the counting proxy and Pebble (e.g. the dns-persist-01 stand-in,
   * test/support/persist-proxy.ts): it gets the running Pebble and returns its directory URL and the CA
   * of its HTTPS certificate. The caller closes it.
   */
  upstream?: (pebble: PebbleInstance) => Promise<{ directoryUrl: string; caPem: string }>;
}

export async function startCliBed(options: CliBedOptions = {}): Promise<CliBed> {
  const pebble = await startPebble();
  const upstream = options.upstream ? await options.upstream(pebble) : { directoryUrl: pebble.directoryUrl, caPem: pebble.caPem };
  const proxy = await startFaultProxy({ upstream: new URL(upstream.directoryUrl).origin, upstreamCa: upstream.caPem, tls: true });
  const dir = await mkdtemp(join(tmpdir(), "edgecert-cli-"));
  const caFile = join(dir, "proxy-ca.pem");
  await writeFile(caFile, proxy.caPem!);
  const pebbleCaFile = join(dir, "pebble-ca.pem");
  await writeFile(pebbleCaFile, pebble.caPem);
  const rootFile = join(dir, "root.pem");
  await writeFile(rootFile, (await pebble.rootsPem())[0]!);
  const windowRule = (start: Date, end: Date, times: number, retryAfterSeconds = 21_600) =>
    proxy.addRule({
      method: "GET",
      path: "/renewal-info/",
      times,
      fault: {
        kind: "respond",
        status: 200,
        headers: { "content-type": "application/json", "retry-after": String(retryAfterSeconds) },
        body: JSON.stringify({ suggestedWindow: { start: start.toISOString(), end: end.toISOString() } }),
      },
    });
  const ariWindow: CliBed["ariWindow"] = (start, end, options = {}) => {
    proxy.clearRules();
    proxy.addRule({
      method: "GET",
      path: "/dir",
      times: Infinity,
      fault: { kind: "rewriteJson", edit: (json) => ({ ...(json as object), renewalInfo: `${proxy.url}/renewal-info` }) },
    });
    windowRule(start, end, options.times ?? Infinity, options.retryAfterSeconds);
    // Default: a window far ahead (Pebble's certificates live five years).
    if (options.times !== undefined) windowRule(new Date(Date.now() + 300 * 86_400_000), new Date(Date.now() + 302 * 86_400_000), Infinity);
  };
  ariWindow(new Date(Date.now() + 300 * 86_400_000), new Date(Date.now() + 302 * 86_400_000));
  const ariRenewFirstOnly = () => {
    ariWindow(new Date(), new Date());
    proxy.clearRules();
    let first: string | undefined;
    proxy.addRule({
      method: "GET",
      path: "/dir",
      times: Infinity,
      fault: { kind: "rewriteJson", edit: (json) => ({ ...(json as object), renewalInfo: `${proxy.url}/renewal-info` }) },
    });
    proxy.addRule({
      method: "GET",
      path: "/renewal-info/",
      times: Infinity,
      fault: {
        kind: "rewriteJson",
        status: 200,
        headers: { "content-type": "application/json", "retry-after": "21600" },
        edit: (_json, req) => {
          first ??= req.path;
          const day = 86_400_000;
          const [start, end] = req.path === first ? [Date.now() - 2 * day, Date.now() - day] : [Date.now() + 300 * day, Date.now() + 302 * day];
          return { suggestedWindow: { start: new Date(start).toISOString(), end: new Date(end).toISOString() } };
        },
      },
    });
  };
  const nodeBundle = join(dir, "edgecert.mjs");
  await build({ entryPoints: [MAIN], bundle: true, platform: "node", format: "esm", target: "node20", outfile: nodeBundle, logLevel: "warning" });
  return {
    pebble,
    proxy,
    dir,
    caFile,
    pebbleCaFile,
    rootFile,
    ariWindow,
    ariRenewFirstOnly,
    nodeBundle,
    async stop() {
      await proxy.close();
      await pebble.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** A finished CLI run. */
export interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
  /** Requests the proxy saw during the run (all of them went to the ACME server). */
  requests: number;
  /** `stdout` parsed, when `--json` was given. */
  json: Record<string, unknown> | undefined;
}

/** The command line that runs the CLI in `runtime`: Deno and Bun run the TypeScript source, Node the bundle of it. */
export function cliCommand(bed: CliBed, runtime: Runtime): { binary: string; args: string[] } {
  if (runtime === "node") return { binary: process.execPath, args: [bed.nodeBundle] };
  const found = findRuntime(runtime);
  if ("error" in found) throw new Error(found.error);
  return runtime === "deno" ? { binary: found.path, args: ["run", "-A", "--no-lock", MAIN] } : { binary: found.path, args: [MAIN] };
}

/** Runs `edgecert args…` in `runtime` (killed after `timeoutMs`). */
export function runCli(bed: CliBed, runtime: Runtime, args: string[], env: Record<string, string> = {}, timeoutMs = 60_000): Promise<CliRun> {
  const { binary, args: pre } = cliCommand(bed, runtime);
  return runCliCommand(bed, { binary, args: pre, cwd: root }, args, env, timeoutMs);
}

/** Runs the CLI through any command line (e.g. `npx edgecert` in an installed project), counting its requests. */
export function runCliCommand(
  bed: CliBed,
  command: { binary: string; args: string[]; cwd: string },
  args: string[],
  env: Record<string, string> = {},
  timeoutMs = 60_000,
): Promise<CliRun> {
  return startCliCommand(bed, command, args, env, timeoutMs).done;
}

/** A CLI run still going: its process, what it printed so far, and its end. */
export interface StartedCli {
  child: ChildProcess;
  /** stderr so far (the progress lines). */
  stderr(): string;
  done: Promise<CliRun>;
}

/** Starts `edgecert args…` in `runtime` without waiting for it (killed after `timeoutMs`). */
export function startCli(bed: CliBed, runtime: Runtime, args: string[], env: Record<string, string> = {}, timeoutMs = 60_000): StartedCli {
  const { binary, args: pre } = cliCommand(bed, runtime);
  return startCliCommand(bed, { binary, args: pre, cwd: root }, args, env, timeoutMs);
}

function startCliCommand(bed: CliBed, command: { binary: string; args: string[]; cwd: string }, args: string[], env: Record<string, string>, timeoutMs: number): StartedCli {
  const { binary, args: pre, cwd } = command;
  const before = bed.proxy.requests.length;
  const child = spawn(binary, [...pre, ...args], {
    cwd,
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: bed.dir, DENO_NO_UPDATE_CHECK: "1", NO_COLOR: "1", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stdout!.setEncoding("utf8").on("data", (c: string) => (stdout += c));
  child.stderr!.setEncoding("utf8").on("data", (c: string) => (stderr += c));
  const done = new Promise<CliRun>((resolve, reject) => {
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.once("error", reject);
    child.once("close", (code) => {
      clearTimeout(timer);
      let json: Record<string, unknown> | undefined;
      if (args.includes("--json")) {
        try {
          json = JSON.parse(stdout) as Record<string, unknown>;
        } catch {
          json = undefined;
        }
      }
      resolve({ code, stdout, stderr, requests: bed.proxy.requests.length - before, json });
    });
  });
  return { child, stderr: () => stderr, done };
}

/** The flags a run against the bed needs: its own `--dir`, the proxy as `--server`, the proxy's CA as `--ca-file`. */
export const bedFlags = (bed: CliBed, dir: string): string[] => ["--dir", dir, "--server", bed.proxy.directoryUrl, "--ca-file", bed.caFile];

/** Standalone http-01 on the port Pebble validates at. */
export const httpFlags = (bed: CliBed): string[] => ["--http", "--http-port", String(bed.pebble.httpPort), "--http-address", "127.0.0.1"];

/** Shows a run in assertion messages. */
export const show = (run: CliRun) => `exit ${run.code}\n--- stdout\n${run.stdout}\n--- stderr\n${run.stderr}`;

/** Checks a live/<name> directory with openssl: the chain verifies to Pebble's root, the key matches, privkey.pem is 0600. */
export async function verifyLive(bed: CliBed, live: string): Promise<void> {
  const files = {
    "cert.pem": await readFile(join(live, "cert.pem")),
    "chain.pem": await readFile(join(live, "chain.pem")),
    "fullchain.pem": await readFile(join(live, "fullchain.pem")),
    "root.pem": await readFile(bed.rootFile),
    "privkey.pem": await readFile(join(live, "privkey.pem")),
  };
  expect(await openssl(["verify", "-CAfile", "{dir}/root.pem", "-untrusted", "{dir}/chain.pem", "{dir}/cert.pem"], files)).toContain("cert.pem: OK");
  expect(await openssl(["verify", "-CAfile", "{dir}/root.pem", "-untrusted", "{dir}/fullchain.pem", "{dir}/fullchain.pem"], files)).toContain("OK");
  const fromKey = await openssl(["pkey", "-in", "{dir}/privkey.pem", "-pubout"], files);
  const fromCert = await openssl(["x509", "-in", "{dir}/cert.pem", "-noout", "-pubkey"], files);
  expect(fromKey.trim()).toBe(fromCert.trim());
  expect((await stat(join(live, "privkey.pem"))).mode & 0o777).toBe(0o600);
}

/**
 * Runs `edgecert args…` (Node bundle) under a pseudo-terminal (python3's pty module, in Debian's
 * python3), returning everything the terminal received and the exit code.
 */
export function runCliInPty(bed: CliBed, args: string[], timeoutMs = 60_000): Promise<{ code: number | null; output: string }> {
  const script = [
    "import os, pty, sys",
    "status = pty.spawn(sys.argv[1:])",
    "sys.exit(os.waitstatus_to_exitcode(status))",
  ].join("\n");
  return new Promise((resolve, reject) => {
    const child = spawn("python3", ["-c", script, process.execPath, bed.nodeBundle, ...args], {
      cwd: root,
      env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: bed.dir, TERM: "xterm-256color", COLUMNS: "120", LINES: "40" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let output = "";
    child.stdout.setEncoding("utf8").on("data", (c: string) => (output += c));
    child.stderr.setEncoding("utf8").on("data", (c: string) => (output += c));
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.once("error", reject);
    child.once("close", (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}
