import { afterAll, beforeAll } from "vitest";
import { StorageHttp01Solver } from "../../src/manager/storage-http01-solver.ts";
import { MemoryStorage } from "../../src/storage/memory-storage.ts";
import type { Storage } from "../../src/storage/storage.ts";
import { serveHttp01, type Http01Server } from "./challenge-servers.ts";
import { startPebble, type PebbleInstance } from "./pebble.ts";

/** Pebble plus an http-01 responder answering from `tokens` (swap it per test to break validation). */
export interface ManagerBed {
  readonly pebble: PebbleInstance;
  /** The storage whose http-01 tokens the responder serves, read on every validation. */
  tokens: Storage;
}

/** Starts Pebble and its http-01 responder for the test file (beforeAll / afterAll). */
export function useManagerBed(): ManagerBed {
  let pebble: PebbleInstance | undefined;
  let http: Http01Server | undefined;
  const bed = {
    get pebble(): PebbleInstance {
      if (!pebble) throw new Error("the manager bed is not started");
      return pebble;
    },
    tokens: new MemoryStorage() as Storage,
  };
  beforeAll(async () => {
    pebble = await startPebble();
    http = await serveHttp01(pebble.httpPort, {
      respond: (path) => new StorageHttp01Solver(bed.tokens).response(path.split("/").pop() ?? ""),
    });
  });
  afterAll(async () => {
    await http?.close();
    await pebble?.stop();
  });
  return bed;
}
