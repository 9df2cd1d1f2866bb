import { execFile, spawn, type ChildProcess } from "node:child_process";
import { cp, mkdtemp, readFile, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startPebble, type PebbleInstance } from "../support/pebble.ts";
import { settled, startWorker } from "../support/worker.ts";

// docs/worker.md "Local development against Pebble or a private CA", followed as a newcomer would
// (issue 25 defect 8): `npx wrangler dev` with the secrets in .dev.vars and NODE_EXTRA_CA_CERTS
// naming the CA's root, against Pebble. And without NODE_EXTRA_CA_CERTS, the certificate's lastError
// says what to check instead of workerd's bare "internal error; reference = …".
const root = new URL("../../", import.meta.url).pathname;
const run = promisify(execFile);
let pebble: PebbleInstance;

beforeAll(async () => {
  pebble = await startPebble();
});
afterAll(async () => {
  await pebble?.stop();
});

/** Stops a child process started here and waits for it (SIGKILL after 5 s). */
async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), 5_000);
  await exited;
  clearTimeout(timer);
}

describe("local development of the Worker", () => {
  it("without the CA's root trusted, a certificate's lastError says what to check (was: 'internal error; reference = …' only)", async () => {
    // Outbound requests leave workerd itself, as under `wrangler dev` without NODE_EXTRA_CA_CERTS.
    const w = await startWorker(pebble, { port: 0, trustPebble: false });
    try {
      const res = await w.admin("/admin/certificates", { method: "POST", body: JSON.stringify({ names: ["untrusted.local.test"] }) });
      expect(res.status).toBe(202);
      const done = await settled(w, ((await res.json()) as { id: string }).id);
      expect(done.status).toBe("failed");
      expect(done.lastError).toContain(`GET ${pebble.directoryUrl} failed: the Workers runtime hid the reason (its console has it under reference `);
      expect(done.lastError).toContain("NODE_EXTRA_CA_CERTS=/path/to/ca.pem");
      expect(done.lastError).toContain("docs/worker.md");
    } finally {
      await w.stop();
    }
  });

  it("`npx wrangler dev` as docs/worker.md says, with NODE_EXTRA_CA_CERTS: a certificate is issued by Pebble on the first try", async () => {
    // A copy of what a clone has (the sources, wrangler.toml, .dev.vars.example), so .dev.vars and
    // wrangler's state stay out of the repository.
    const dir = await mkdtemp(join(tmpdir(), "edgecert-wrangler-dev-"));
    let child: ChildProcess | undefined;
    try {
      await Promise.all(["workers", "src"].map((d) => cp(join(root, d), join(dir, d), { recursive: true })));
      await Promise.all(["package.json", "wrangler.toml", ".dev.vars.example"].map((f) => cp(join(root, f), join(dir, f))));
      await symlink(join(root, "node_modules"), join(dir, "node_modules"));
      // The documented commands, run by the shell: .dev.vars from the example with a generated admin
      // token, the CA's directory URL appended; the CA's root on disk.
      await run("sh", ["-c", `cp .dev.vars.example .dev.vars && sed -i "s/^ADMIN_TOKEN=.*/ADMIN_TOKEN=$(openssl rand -hex 32)/" .dev.vars && echo "ACME_DIRECTORY_URL=${pebble.directoryUrl}" >> .dev.vars`], { cwd: dir });
      const token = /^ADMIN_TOKEN=([0-9a-f]{64})$/m.exec(await readFile(join(dir, ".dev.vars"), "utf8"))![1]!;
      await writeFile(join(dir, "pebble-ca.pem"), pebble.caPem);
      child = spawn(join(root, "node_modules/.bin/wrangler"), ["dev", "--ip", "127.0.0.1", "--port", String(pebble.httpPort), "--persist-to", join(dir, "state")], {
        cwd: dir,
        env: { ...process.env, NODE_EXTRA_CA_CERTS: join(dir, "pebble-ca.pem"), WRANGLER_SEND_METRICS: "false", CLOUDFLARE_CF_FETCH_ENABLED: "false", CI: "1", NO_COLOR: "1" },
        stdio: ["ignore", "pipe", "pipe"],
      });
      let output = "";
      const ready = new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`wrangler dev not ready after 120 s:\n${output.slice(-3000)}`)), 120_000);
        const read = (chunk: Buffer) => {
          output += chunk.toString();
          if (/Ready on http:\/\/127\.0\.0\.1:\d+/.test(output)) {
            clearTimeout(timer);
            resolve();
          }
        };
        child!.stdout!.on("data", read);
        child!.stderr!.on("data", read);
        child!.once("exit", (code) => reject(new Error(`wrangler dev exited (${code}):\n${output.slice(-3000)}`)));
      });
      await ready;
      const base = `http://127.0.0.1:${pebble.httpPort}`;
      const admin = (path: string, init: RequestInit = {}) => fetch(base + path, { ...init, headers: { authorization: `Bearer ${token}`, "content-type": "application/json" } });
      const status = await admin("/admin/status");
      expect(status.status, await status.clone().text()).toBe(200);
      expect(((await status.json()) as { directoryUrl: string }).directoryUrl).toBe(pebble.directoryUrl);
      const added = await admin("/admin/certificates", { method: "POST", body: JSON.stringify({ names: ["dev.local.test"] }) });
      expect(added.status).toBe(202);
      const { id } = (await added.json()) as { id: string };
      let summary: { status: string; lastError: string | null } = { status: "pending", lastError: null };
      for (let i = 0; i < 600 && summary.status === "pending"; i++) {
        summary = (await (await admin(`/admin/certificates/${id}`)).json()) as typeof summary;
        if (summary.status === "pending") await new Promise((r) => setTimeout(r, 100));
      }
      expect(summary.status, `${summary.lastError}\n${output.slice(-2000)}`).toBe("valid");
      const cert = (await (await admin(`/admin/certificates/${id}`)).json()) as { certificate: { issuer: string } };
      expect(cert.certificate.issuer).toMatch(/Pebble/);
    } finally {
      if (child) await stop(child);
      await rm(dir, { recursive: true, force: true });
    }
  });
});
