/**
 * The CA side of the fleet tests, per test file: a real Pebble behind the TLS fault proxy (which sees,
 * counts and can fault every request, and records what the CA answered), the proxy's certificate in a
 * PEM file for child processes to trust, and an http-01 responder answering from whichever storage the
 * test sets as `tokens` (any instance's stored token is what Pebble gets). A storage failure while a
 * token is read answers 404, as a real responder would, instead of crashing.
 * @module
 */
import { afterAll, beforeAll } from "vitest";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { StorageHttp01Solver } from "../../src/manager/index.ts";
import type { Storage } from "../../src/storage/storage.ts";
import { serveHttp01, type Http01Server } from "./challenge-servers.ts";
import { startFaultProxy, type FaultProxy } from "./fault-proxy.ts";
import { startPebble, type PebbleInstance } from "./pebble.ts";

/** See the module comment; the getters throw before `beforeAll` ran. */
export interface FleetCa {
  readonly pebble: PebbleInstance;
  readonly proxy: FaultProxy;
  /** PEM file of the proxy's certificate (NODE_EXTRA_CA_CERTS for a child). */
  readonly proxyCaFile: string;
  /** The storage http-01 tokens are answered from; undefined answers 404. */
  tokens: Storage | undefined;
}

/** Registers `beforeAll`/`afterAll` hooks that start and stop the CA side. */
export function useFleetCa(): FleetCa {
  let started: { pebble: PebbleInstance; proxy: FaultProxy; proxyCaFile: string } | undefined;
  let http: Http01Server | undefined;
  let dir: string | undefined;
  const ca = {
    tokens: undefined as Storage | undefined,
    get pebble() {
      return ready().pebble;
    },
    get proxy() {
      return ready().proxy;
    },
    get proxyCaFile() {
      return ready().proxyCaFile;
    },
  };
  const ready = () => {
    if (!started) throw new Error("the fleet CA is used before beforeAll ran");
    return started;
  };
  beforeAll(async () => {
    const pebble = await startPebble();
    const proxy = await startFaultProxy({ upstream: pebble.directoryUrl, upstreamCa: pebble.caPem, tls: true });
    dir = await mkdtemp(join(tmpdir(), "edgecert-fleet-ca-"));
    const proxyCaFile = join(dir, "proxy-ca.pem");
    await writeFile(proxyCaFile, proxy.caPem!);
    started = { pebble, proxy, proxyCaFile };
    http = await serveHttp01(pebble.httpPort, {
      respond: async (path) => (ca.tokens ? await new StorageHttp01Solver(ca.tokens).response(path.split("/").pop() ?? "").catch(() => undefined) : undefined),
    });
  });
  afterAll(async () => {
    await http?.close();
    await started?.proxy.close();
    await started?.pebble.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });
  return ca;
}
