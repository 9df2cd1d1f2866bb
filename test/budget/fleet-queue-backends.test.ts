/**
 * The fleet queue's backend tests (fleet-queue-backends.ts) on MemoryStorage (one instance shared, as
 * processes of one host share a Durable Object or server) and FileStorage (a client per process over
 * one directory). Redis and PostgreSQL run them in test/fleet/redis.test.ts and postgres.test.ts.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FileStorage } from "../../src/storage/file.ts";
import { MemoryStorage } from "../../src/storage/memory-storage.ts";
import { runFleetQueueTests } from "./fleet-queue-backends.ts";

runFleetQueueTests("MemoryStorage", async () => {
  const storage = new MemoryStorage();
  return { clients: (n) => Array.from({ length: n }, () => storage) };
});

runFleetQueueTests("FileStorage", async () => {
  const dir = await mkdtemp(join(tmpdir(), "edgecert-fleet-queue-"));
  return { clients: (n) => Array.from({ length: n }, () => new FileStorage({ dir })), close: () => rm(dir, { recursive: true, force: true, maxRetries: 5 }) };
});
