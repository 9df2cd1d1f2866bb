/**
 * Pebble behind the fault proxy, with an in-memory http-01 responder on Pebble's validation port, for
 * a test file (beforeAll / afterAll): the bed of the tests that count what reached the CA.
 * @module
 */
import { afterAll, beforeAll } from "vitest";
import { Http01Solver } from "../../src/acme/solvers/http01-solver.ts";
import { serveHttp01, type Http01Server } from "./challenge-servers.ts";
import { startFaultProxy, type FaultProxy } from "./fault-proxy.ts";
import { startPebble, type PebbleInstance } from "./pebble.ts";

/** The running bed: the proxy clients talk to, and the solver Pebble's validator reads tokens from. */
export interface FaultProxyBed {
  readonly proxy: FaultProxy;
  readonly http01: Http01Solver;
}

/** Starts Pebble, the TLS fault proxy in front of it and the http-01 responder for the test file. */
export function useFaultProxyBed(): FaultProxyBed {
  let pebble: PebbleInstance | undefined;
  let proxy: FaultProxy | undefined;
  let http: Http01Server | undefined;
  const http01 = new Http01Solver();
  beforeAll(async () => {
    pebble = await startPebble();
    proxy = await startFaultProxy({ upstream: new URL(pebble.directoryUrl).origin, upstreamCa: pebble.caPem, tls: true });
    http = await serveHttp01(pebble.httpPort, http01);
  });
  afterAll(async () => {
    await http?.close();
    await proxy?.close();
    await pebble?.stop();
  });
  return {
    get proxy(): FaultProxy {
      if (!proxy) throw new Error("the fault proxy bed is not started");
      return proxy;
    },
    http01,
  };
}
