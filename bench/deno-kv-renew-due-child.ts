// Run by the deno binary (`deno run --unstable-kv`) for bench/deno-kv-renew-due.ts: the renewDue()
// figure on a DenoKvStorage over a local Deno KV (SQLite) at the path given; prints one JSON line.
import { DenoKvStorage } from "../src/storage/deno-kv/deno-kv-storage.ts";
import { loadRecords, renewDuePass } from "./renew-due-pass.ts";

declare const Deno: { args: string[]; openKv(path: string): Promise<unknown> };

const kv = await Deno.openKv(Deno.args[0]!);
const storage = new DenoKvStorage({ kv: kv as never, prefix: "bench" });
const now = Date.now();
const started = performance.now();
await loadRecords(storage, now, 500);
const figures = await renewDuePass(storage, now, performance.now() - started);
console.log(JSON.stringify({ denoKvRenewDue: figures }));
(kv as { close(): void }).close();
