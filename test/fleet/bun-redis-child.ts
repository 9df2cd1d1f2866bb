// Run by the real bun binary (test/fleet/bun-redis.test.ts): RedisStorage over Bun's built-in client
// (`RedisClient` from "bun", adapted by fromBunRedis) against the redis-server at REDIS_URL. Runs the
// exported storage conformance suite and the due-index rules, one JSON line per case, then a summary.
import type { BunRedisLike } from "../../src/storage/redis/redis-client.ts";
import { storageConformanceCases } from "../../src/storage/conformance.ts";
import { fromBunRedis } from "../../src/storage/redis/redis-client.ts";
import { RedisStorage } from "../../src/storage/redis/redis-storage.ts";

// Bun's own module, typed here by what is used (no Bun type package in the project).
const { RedisClient } = (await import("bun" as string)) as { RedisClient: new (url: string) => BunRedisLike & { connect(): Promise<void>; close(): void } };
const runtime = `bun ${(globalThis as unknown as { Bun: { version: string } }).Bun.version}`;
const client = new RedisClient(process.env.REDIS_URL!);
await client.connect();
const make = () => new RedisStorage({ client: fromBunRedis(client), prefix: `bun-${crypto.randomUUID().slice(0, 8)}` });

const cases = [
  ...storageConformanceCases(make, { log: () => undefined }),
  {
    group: "due index",
    name: "entries earliest first; earlierOnly never moves one later; a released lease's entry write is refused",
    async run() {
      const s = make();
      await s.setDue("a", 3_000);
      await s.setDue("b", 1_000);
      await s.setDue("a", 9_000, { earlierOnly: true });
      const due = await s.due(5_000, 10);
      if (JSON.stringify(due) !== JSON.stringify([{ id: "b", dueAtMs: 1_000 }, { id: "a", dueAtMs: 3_000 }])) throw new Error(`due: ${JSON.stringify(due)}`);
      const lease = await s.lock("l", { ttlMs: 10_000 });
      await s.setDue("c", 2_000, { fence: lease });
      await lease.release();
      const refused = await s.setDue("c", 90_000, { fence: lease }).then(() => "written", (e: { code?: string }) => e.code);
      if (refused !== "lease_lost") throw new Error(`a released lease's setDue: ${refused}`);
    },
  },
  {
    group: "values",
    name: "binary bytes (NUL, 0xff, CR LF) survive Bun's string replies",
    async run() {
      const s = make();
      const bytes = Uint8Array.from({ length: 256 }, (_, i) => i);
      await s.put("bin", bytes);
      const back = await s.get("bin");
      if (!back || back.length !== 256 || back.some((b, i) => b !== i)) throw new Error("bytes changed");
    },
  },
];
let failed = 0;
for (const c of cases) {
  try {
    await c.run();
    console.log(JSON.stringify({ case: `${c.group}: ${c.name}`, ok: true }));
  } catch (error) {
    failed++;
    console.log(JSON.stringify({ case: `${c.group}: ${c.name}`, ok: false, error: String(error) }));
  }
}
console.log(JSON.stringify({ done: true, runtime, cases: cases.length, failed }));
client.close();
