/**
 * One Pebble and one http-01 responder per test file, started before its tests and stopped after.
 * @module
 */
import { afterAll, beforeAll } from "vitest";
import { Http01Solver } from "../../src/index.ts";
import { serveHttp01, type Http01Server } from "./challenge-servers.ts";
import { startPebble, type PebbleInstance, type PebbleOptions } from "./pebble.ts";

/** The running bed; `pebble` is set once `beforeAll` ran. */
export interface PebbleBed {
  readonly pebble: PebbleInstance;
  /** The solver whose tokens the responder serves. */
  readonly http01: Http01Solver;
}

/** Registers `beforeAll`/`afterAll` hooks that run Pebble (with `options`) and an http-01 responder. */
export function usePebbleBed(options: PebbleOptions = {}): PebbleBed {
  const http01 = new Http01Solver();
  let pebble: PebbleInstance | undefined;
  let http: Http01Server | undefined;
  beforeAll(async () => {
    pebble = await startPebble(options);
    http = await serveHttp01(pebble.httpPort, http01);
  });
  afterAll(async () => {
    await http?.close();
    await pebble?.stop();
  });
  return {
    http01,
    get pebble() {
      if (!pebble) throw new Error("the Pebble bed is used before beforeAll ran");
      return pebble;
    },
  };
}
