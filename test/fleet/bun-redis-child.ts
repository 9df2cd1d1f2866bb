// Run by the real bun binary (test/fleet/bun-redis.test.ts): RedisStorage over Bun's built-in client
// (`RedisClient` from "bun", adapted by fromBunRedis) against the redis-server at REDIS_URL. Runs the
// exported storage conformance suite (due-index cases included), one JSON line per case, then a summary.
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
