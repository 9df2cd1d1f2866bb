/** Starts test/fleet/deno-kv-server.ts in the real deno binary on a local Deno KV (SQLite) path. */
import { join } from "node:path";
import { findRuntime, startProcess, type RunningProcess } from "../runtimes/runtime-binaries.ts";
import { RemoteStorage } from "./remote-storage.ts";

export interface DenoKvProcess {
  storage: RemoteStorage;
  process: RunningProcess;
  stop(): Promise<void>;
}

/** The deno binary, or an error saying why there is none. */
export function denoBinary(): string | undefined {
  const found = findRuntime("deno");
  return "path" in found ? found.path : undefined;
}

export async function startDenoKv(kvPath: string, prefix = "edgecert"): Promise<DenoKvProcess> {
  const deno = denoBinary();
  if (!deno) throw new Error("no deno binary (npm ci installs it)");
  const script = join(import.meta.dirname, "..", "fleet", "deno-kv-server.ts");
  const proc = startProcess(deno, ["run", "--unstable-kv", "--allow-read", "--allow-write", "--allow-env", "--allow-net=127.0.0.1", script, kvPath, prefix], {});
  const match = await proc.waitFor(/\{"port":(\d+)\}/, 30_000);
  return { storage: new RemoteStorage(`http://127.0.0.1:${match[1]}/`), process: proc, stop: async () => void (await proc.stop()) };
}
