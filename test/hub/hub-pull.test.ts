import { spawn } from "node:child_process";
import { mkdtemp, readFile, readlink, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { build } from "esbuild";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { formatSerial, generateAgentKey, parseCertificate } from "../../src/index.ts";
import { startPebble, type PebbleInstance } from "../support/pebble.ts";
import { startWorker, type WorkerInstance } from "../support/worker.ts";
import { MAIN } from "../cli/cli-bed.ts";
import { addCertificate, createToken } from "./hub-bed.ts";

// `edgecert pull` as a real child process (Node, bundled CLI) against the Worker in workerd
// (Miniflare on 127.0.0.1), which gets its certificates from Pebble.
let pebble: PebbleInstance;
let worker: WorkerInstance;
let dir: string;
let cli: string;
let cert: { id: string };

beforeAll(async () => {
  pebble = await startPebble();
  worker = await startWorker(pebble);
  dir = await mkdtemp(join(tmpdir(), "edgecert-pull-"));
  cli = join(dir, "edgecert.mjs");
  await build({ entryPoints: [MAIN], bundle: true, platform: "node", format: "esm", target: "node20", outfile: cli, logLevel: "warning" });
  cert = await addCertificate(worker, ["web.pull.test"]);
});
afterAll(async () => {
  await worker?.stop();
  await pebble?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** A pull process: its JSON lines as they come, and how it ended. */
function startPull(args: string[], env: Record<string, string> = {}) {
  const child = spawn(process.execPath, [cli, "pull", "--from", worker.url.href, "--json", ...args], {
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: dir, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const lines: Array<Record<string, unknown>> = [];
  let stdout = "";
  let stderr = "";
  child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
    stdout += chunk;
    const parts = stdout.split("\n");
    stdout = parts.pop()!;
    for (const p of parts) if (p.trim()) lines.push(JSON.parse(p) as Record<string, unknown>);
  });
  child.stderr.setEncoding("utf8").on("data", (c: string) => (stderr += c));
  const done = new Promise<number | null>((resolve) => child.once("close", resolve));
  const timer = setTimeout(() => child.kill("SIGKILL"), 120_000);
  void done.then(() => clearTimeout(timer));
  return { child, lines, done, stderr: () => stderr };
}

async function pullOnce(args: string[], env: Record<string, string> = {}) {
  const run = startPull(args, env);
  const code = await run.done;
  return { code, lines: run.lines, stderr: run.stderr() };
}

async function until(what: string, check: () => Promise<boolean> | boolean): Promise<void> {
  for (let i = 0; i < 600; i++) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}`);
}

const hookLines = async (file: string) => (await readFile(file, "utf8").catch(() => "")).split("\n").filter(Boolean);
const adminCert = async () => (await (await worker.admin(`/admin/certificates/${cert.id}?include=privateKey`)).json()) as { certificate: { serialNumber: string }; privateKeyPem: string };

describe("edgecert pull against the Worker", () => {
  it("writes the certbot layout and runs the hook once; an unchanged certificate is a 304 and no hook", async () => {
    const { token } = await createToken(worker, { scope: { certificate: cert.id } });
    const out = join(dir, "once");
    const hookLog = join(dir, "once-hook.log");
    const args = ["--name", "web.pull.test", "--out", out, "--deploy-hook", `echo "$EDGECERT_SERIAL $RENEWED_LINEAGE" >> ${hookLog}`];
    const first = await pullOnce(args, { EDGECERT_TOKEN: token });
    expect(first.code, first.stderr).toBe(0);
    expect(first.lines[0]).toMatchObject({ status: "updated" });
    const live = join(out, "live", "web.pull.test");
    const expected = await adminCert();
    expect(parseCertificate(await readFile(join(live, "cert.pem"), "utf8")).serialNumber).toBe(expected.certificate.serialNumber);
    expect(await readFile(join(live, "privkey.pem"), "utf8")).toBe(expected.privateKeyPem.endsWith("\n") ? expected.privateKeyPem : `${expected.privateKeyPem}\n`);
    expect((await stat(join(live, "privkey.pem"))).mode & 0o777).toBe(0o600);
    // The archive folder and EDGECERT_SERIAL name the serial as openssl prints it (issue 25 item 3).
    expect(await readlink(live)).toBe(join("..", "archive", "web.pull.test", formatSerial(expected.certificate.serialNumber)));
    expect(await hookLines(hookLog)).toEqual([`${formatSerial(expected.certificate.serialNumber)} ${live}`]);

    const second = await pullOnce(args, { EDGECERT_TOKEN: token });
    expect(second.code, second.stderr).toBe(0);
    expect(second.lines[0]).toMatchObject({ status: "unchanged" });
    expect(await hookLines(hookLog)).toHaveLength(1);
  });

  it("--watch: the hook runs exactly once per renewal however often it pulls; it sleeps until the next renewal time", async () => {
    const { token } = await createToken(worker, { scope: { pattern: "*.pull.test" } });
    const out = join(dir, "watch");
    const hookLog = join(dir, "watch-hook.log");
    // The sleep cap stands for "the next renewal time has come": every pull in between is a 304.
    const run = startPull(["--name", "web.pull.test", "--out", out, "--watch", "--deploy-hook", `echo "$EDGECERT_SERIAL" >> ${hookLog}`], { EDGECERT_TOKEN: token, EDGECERT_PULL_MAX_SLEEP_MS: "200" });
    try {
      const serials = [(await adminCert()).certificate.serialNumber];
      await until("first deploy", async () => (await hookLines(hookLog)).length === 1);
      const renewals = 3;
      for (let i = 0; i < renewals; i++) {
        const seen = run.lines.length;
        expect((await worker.admin(`/admin/certificates/${cert.id}/renew`, { method: "POST", body: "{}" })).status).toBe(200);
        serials.push((await adminCert()).certificate.serialNumber);
        await until(`deploy of renewal ${i + 1}`, async () => (await hookLines(hookLog)).length === i + 2);
        // A few more pulls after it landed: none of them runs the hook again.
        await until("three more pulls", () => run.lines.length >= seen + 6);
      }
      expect(await hookLines(hookLog)).toEqual(serials.map((s) => formatSerial(s)));
      expect(new Set(serials).size).toBe(renewals + 1);
      const updated = run.lines.filter((l) => l.status === "updated");
      expect(updated.map((l) => l.serialNumber)).toEqual(serials.map((s) => formatSerial(s)));
      const unchanged = run.lines.filter((l) => l.status === "unchanged").length;
      expect(unchanged).toBeGreaterThan(0);
      // Without the cap the agent would sleep until the hub's next renewal time (Pebble: years → the 24 h ceiling).
      const last = run.lines.at(-1)!;
      expect(Date.parse(last.nextRenewalAt as string)).toBeGreaterThan(Date.now());
      console.log(`edgecert pull --watch: ${run.lines.length} pulls for ${renewals} renewals (+1 first deploy) at a 200 ms sleep cap: ${updated.length} full (200), ${unchanged} conditional (304); hook runs: ${serials.length}`);
    } finally {
      run.child.kill("SIGINT");
    }
    expect(await run.done).toBe(130);
  });

  it("--agent-key: opens the sealed key; refuses an unsealed key, a wrong agent key, and a revoked token (exit 1, one line)", async () => {
    const agent = await generateAgentKey();
    const keyFile = join(dir, "agent.key");
    await writeFile(keyFile, agent.privateKeyPem, { mode: 0o600 });
    const sealed = await createToken(worker, { scope: { certificate: cert.id }, agentPublicKey: agent.publicKeyPem });
    const out = join(dir, "sealed");
    const ok = await pullOnce(["--name", "web.pull.test", "--out", out, "--agent-key", keyFile], { EDGECERT_TOKEN: sealed.token });
    expect(ok.code, ok.stderr).toBe(0);
    expect(await readFile(join(out, "live", "web.pull.test", "privkey.pem"), "utf8")).toContain((await adminCert()).privateKeyPem.trim());

    const stranger = join(dir, "stranger.key");
    await writeFile(stranger, (await generateAgentKey()).privateKeyPem, { mode: 0o600 });
    const wrong = await pullOnce(["--name", "web.pull.test", "--out", join(dir, "wrong"), "--agent-key", stranger], { EDGECERT_TOKEN: sealed.token });
    expect(wrong.code).toBe(1);
    expect(wrong.lines[0]?.error).toMatch(/does not open with this agent key/);

    const plain = await createToken(worker, { scope: { certificate: cert.id } });
    const unsealed = await pullOnce(["--name", "web.pull.test", "--out", join(dir, "unsealed"), "--agent-key", keyFile], { EDGECERT_TOKEN: plain.token });
    expect(unsealed.code).toBe(1);
    expect(unsealed.lines[0]?.error).toMatch(/sent the key unsealed/);

    await worker.admin(`/admin/tokens/${plain.id}`, { method: "DELETE" });
    const revoked = await pullOnce(["--name", "web.pull.test", "--out", join(dir, "revoked")], { EDGECERT_TOKEN: plain.token });
    expect(revoked.code).toBe(1);
    expect(revoked.lines[0]?.error).toMatch(/401 token_revoked/);
  });
});

describe("--watch schedule", () => {
  it("sleeps until the next renewal time plus at most 10 % (≤ 30 min) jitter, within [5 min, 24 h], under the cap", async () => {
    const { watchSleepMs } = await import("../../src/cli/commands/pull.ts");
    const now = Date.parse("2026-12-02T12:00:00Z");
    const h = 3_600_000;
    expect(watchSleepMs(now + h, now, 0)).toBe(h);
    expect(watchSleepMs(now + h, now, 1)).toBe(h + 0.1 * h);
    expect(watchSleepMs(now + 20 * h, now, 1)).toBe(20 * h + 30 * 60_000);
    // Pebble-like: renewal years away → come back daily anyway (forced renewals, revocations).
    expect(watchSleepMs(now + 1_000 * 24 * h, now, 0.5)).toBe(24 * h);
    // Renewal time passed but the hub has not renewed yet: not a busy loop.
    expect(watchSleepMs(now - h, now, 0)).toBe(5 * 60_000);
    expect(watchSleepMs(now + h, now, 0.5, 200)).toBe(200);
  });
});
