// Child process for file.test.ts: increments "counter" `count` times under the "counter" lock, and
// appends to "overlaps" if it ever sees another process inside the critical section.
import { FileStorage } from "../../src/storage/file.ts";

const [dir, count] = process.argv.slice(2);
const s = new FileStorage({ dir: dir! });
const decode = (b: Uint8Array | undefined) => (b === undefined ? "" : new TextDecoder().decode(b));
if ((await s.get("overlaps")) === undefined) await s.put("overlaps", "");
for (let i = 0; i < Number(count); i++) {
  const lease = await s.lock("counter", { ttlMs: 10_000, waitMs: 20_000 });
  const marker = `inside/${lease.token}`;
  const others = (await s.list("inside/")).keys;
  if (others.length > 0) await s.put("overlaps", decode(await s.get("overlaps")) + others.join(","));
  await s.put(marker, String(process.pid));
  const n = Number(decode(await s.get("counter")) || "0");
  await new Promise((r) => setTimeout(r, 3));
  await s.put("counter", String(n + 1));
  await s.delete(marker);
  await lease.release();
}
