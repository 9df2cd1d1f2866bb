import { execFile } from "node:child_process";
import { cp, mkdtemp, readFile, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { unstable_getMiniflareWorkerOptions } from "wrangler";
import { WRANGLER_CONFIG } from "../support/worker.ts";

// One source of configuration (issue 12): wrangler.toml is what the Worker tests start from (see
// test/support/worker.ts), and workers/worker-configuration.d.ts is what `npx wrangler types` makes of it.
const run = promisify(execFile);
const root = new URL("../../", import.meta.url).pathname;
const TYPES_ARGS = ["types", "workers/worker-configuration.d.ts", "--include-runtime=false", "--strict-vars=false"];
// Offline: no metrics, no error reports, no update check result needed.
const offline = { ...process.env, WRANGLER_SEND_METRICS: "false", WRANGLER_SEND_ERROR_REPORTS: "false", CLOUDFLARE_CF_FETCH_ENABLED: "false" };

/** `wrangler types --check` in a copy of the Worker's sources (no local .dev.vars, which wrangler would fold in). */
async function typesCheck(edit?: (toml: string) => string): Promise<{ ok: boolean; output: string }> {
  const dir = await mkdtemp(join(tmpdir(), "edgecert-wrangler-types-"));
  try {
    await Promise.all(["workers", "src"].map((d) => cp(join(root, d), join(dir, d), { recursive: true })));
    await cp(join(root, "package.json"), join(dir, "package.json"));
    await symlink(join(root, "node_modules"), join(dir, "node_modules"));
    const toml = await readFile(WRANGLER_CONFIG, "utf8");
    await writeFile(join(dir, "wrangler.toml"), edit ? edit(toml) : toml);
    try {
      const { stdout, stderr } = await run(join(root, "node_modules/.bin/wrangler"), [...TYPES_ARGS, "--check"], { cwd: dir, env: offline, timeout: 120_000 });
      return { ok: true, output: stdout + stderr };
    } catch (err) {
      const e = err as { stdout?: string; stderr?: string };
      return { ok: false, output: `${e.stdout ?? ""}${e.stderr ?? ""}` };
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

describe("wrangler.toml is the Worker's one configuration", () => {
  it("the checked-in Env types are what `wrangler types` generates from wrangler.toml (and a drift is caught)", async () => {
    const current = await typesCheck();
    expect(current.ok, current.output).toBe(true);
    const drifted = await typesCheck((toml) => toml.replace("[vars]\n", '[vars]\nA_NEW_VAR = "x"\n'));
    expect(drifted.ok).toBe(false);
    expect(drifted.output).toMatch(/out of date/);
  });

  it("a current compatibility date this workerd supports, observability on, and the tests' Miniflare options come from it", async () => {
    const toml = await readFile(WRANGLER_CONFIG, "utf8");
    expect(toml).toMatch(/\[observability\]\s*\nenabled = true/);
    const { workerOptions } = unstable_getMiniflareWorkerOptions(WRANGLER_CONFIG);
    const date = workerOptions.compatibilityDate!;
    expect(date >= "2026-01-01", date).toBe(true);
    // workerd's version is its build date: it refuses compatibility dates after it.
    const workerd = JSON.parse(await readFile(join(root, "node_modules/workerd/package.json"), "utf8")) as { version: string };
    const built = workerd.version.split(".")[1]!.replace(/^(\d{4})(\d{2})(\d{2})$/, "$1-$2-$3");
    expect(date <= built, `${date} vs workerd ${built}`).toBe(true);
    expect(Object.keys(workerOptions.durableObjects ?? {}).sort()).toEqual(["CA_BUDGET_QUEUE", "CERTIFICATE_RENEWER", "EDGECERT_STORE", "RENEWAL_DISPATCHER", "RENEWAL_INDEX", "WEBHOOK_OUTBOX"]);
  });
});
