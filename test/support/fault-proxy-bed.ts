/**
 * Pebble behind the TLS fault proxy (which sees, counts and can fault every request, and records what
 * the CA answered), with an http-01 responder on Pebble's validation port, for a test file (beforeAll /
 * afterAll): the bed of the tests that count what reached the CA. The responder answers from `tokens`
 * when the test sets it (a manager's storage, or the one a fleet shares: any instance's stored token is
 * what Pebble gets; a storage failure while a token is read answers 404, as a real responder would),
 * otherwise from the in-memory `http01` solver. The proxy's certificate is also in a PEM file, for
 * child processes to trust.
 * @module
 */
import { afterAll, beforeAll } from "vitest";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Http01Solver } from "../../src/acme/solvers/http01-solver.ts";
import { StorageHttp01Solver } from "../../src/manager/storage-http01-solver.ts";
import type { Storage } from "../../src/storage/storage.ts";
import { serveHttp01, type Http01Server } from "./challenge-servers.ts";
import { startFaultProxy, type FaultProxy } from "./fault-proxy.ts";
import { startPebble, type PebbleInstance } from "./pebble.ts";

/** The running bed (the getters throw before `beforeAll` ran). */
export interface FaultProxyBed {
  readonly pebble: PebbleInstance;
  /** The proxy clients talk to. */
  readonly proxy: FaultProxy;
  /** PEM file of the proxy's certificate (NODE_EXTRA_CA_CERTS for a child). */
  readonly proxyCaFile: string;
  /** The solver Pebble's validator reads tokens from while `tokens` is unset. */
  readonly http01: Http01Solver;
  /** The storage http-01 tokens are answered from, when set. */
  tokens: Storage | undefined;
}

/** Starts Pebble, the TLS fault proxy in front of it and the http-01 responder for the test file. */
export function useFaultProxyBed(): FaultProxyBed {
  let started: { pebble: PebbleInstance; proxy: FaultProxy; proxyCaFile: string } | undefined;
  let http: Http01Server | undefined;
  let dir: string | undefined;
  const ready = () => {
    if (!started) throw new Error("the fault proxy bed is used before beforeAll ran");
    return started;
  };
  const bed = {
    http01: new Http01Solver(),
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
  beforeAll(async () => {
    const pebble = await startPebble();
    const proxy = await startFaultProxy({ upstream: new URL(pebble.directoryUrl).origin, upstreamCa: pebble.caPem, tls: true });
    dir = await mkdtemp(join(tmpdir(), "edgecert-fault-proxy-bed-"));
    const proxyCaFile = join(dir, "proxy-ca.pem");
    await writeFile(proxyCaFile, proxy.caPem!);
    started = { pebble, proxy, proxyCaFile };
    http = await serveHttp01(pebble.httpPort, {
      respond: async (path) =>
        bed.tokens ? await new StorageHttp01Solver(bed.tokens).response(path.split("/").pop() ?? "").catch(() => undefined) : bed.http01.respond(path),
    });
  });
  afterAll(async () => {
    await http?.close();
    await started?.proxy.close();
    await started?.pebble.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });
  return bed;
}
