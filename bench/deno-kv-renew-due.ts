// Runs bench/deno-kv-renew-due-child.ts in the deno binary on a temporary Deno KV file and returns
// its figures (undefined, with a note, when there is no deno binary).
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { findRuntime, runScript } from "../test/runtimes/runtime-binaries.ts";
import type { RenewDueFigures } from "./renew-due-pass.ts";

/** The renewDue() figure on Deno KV, measured in the deno binary. */
export async function denoKvRenewDue(): Promise<RenewDueFigures | undefined> {
  const deno = findRuntime("deno");
  if ("error" in deno) {
    console.log(`deno-kv renewDue figure skipped: ${deno.error}`);
    return undefined;
  }
  const dir = await mkdtemp(join(tmpdir(), "edgecert-bench-kv-"));
  try {
    const child = join("bench", "deno-kv-renew-due-child.ts");
    const run = await runScript(deno.path, ["run", "--unstable-kv", "-A", "--no-lock", child, join(dir, "kv.sqlite3")], {}, 600_000);
    const line = run.stdout.split("\n").find((l) => l.startsWith('{"denoKvRenewDue"'));
    if (!line) throw new Error(`deno-kv renewDue bench failed (exit ${run.code}):\n${run.stdout}\n${run.stderr}`);
    return (JSON.parse(line) as { denoKvRenewDue: RenewDueFigures }).denoKvRenewDue;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
