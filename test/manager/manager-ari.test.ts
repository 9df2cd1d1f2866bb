import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CertificateManager, StorageHttp01Solver, type ManagerEvent } from "../../src/manager/index.ts";
import { MemoryStorage } from "../../src/storage/memory-storage.ts";
import { parseCertificate } from "../../src/index.ts";
import { serveHttp01, type Http01Server } from "../support/challenge-servers.ts";
import { startFaultProxy, type FaultProxy } from "../support/fault-proxy.ts";
import { startPebble, type PebbleInstance } from "../support/pebble.ts";

// Pebble 2.4 has no ARI: a proxy adds renewalInfo to the directory and answers it.
let pebble: PebbleInstance;
let proxy: FaultProxy;
let http: Http01Server;
const storage = new MemoryStorage();

beforeAll(async () => {
  pebble = await startPebble();
  proxy = await startFaultProxy({ upstream: new URL(pebble.directoryUrl).origin, upstreamCa: pebble.caPem, tls: true });
  http = await serveHttp01(pebble.httpPort, { respond: (path) => new StorageHttp01Solver(storage).response(path.split("/").pop() ?? "") });
  proxy.addRule({
    method: "GET",
    path: "/dir",
    times: Infinity,
    fault: { kind: "rewriteJson", edit: (json) => ({ ...(json as object), renewalInfo: `${proxy.url}/renewal-info` }) },
  });
});
afterAll(async () => {
  await http?.close();
  await proxy?.close();
  await pebble?.stop();
});

function ariWindow(start: string, end: string, retryAfter = "3600") {
  proxy.addRule({
    method: "GET",
    path: "/renewal-info/",
    times: Infinity,
    fault: { kind: "respond", status: 200, headers: { "content-type": "application/json", "retry-after": retryAfter }, body: JSON.stringify({ suggestedWindow: { start, end } }) },
  });
}

describe("CertificateManager with ARI (RFC 9773)", () => {
  it("renews inside the CA's window, sends replaces, and falls back without it on alreadyReplaced", async () => {
    ariWindow("2027-03-01T00:00:00Z", "2027-03-03T00:00:00Z");
    let now = Date.now();
    const events: ManagerEvent[] = [];
    const m = new CertificateManager({ storage, directoryUrl: proxy.directoryUrl, fetch: proxy.fetch, now: () => now, onEvent: (e) => events.push(e) });
    const cert = await m.manage(["ari.example.test"]);
    expect(cert.renewAt.getTime()).toBeGreaterThanOrEqual(Date.parse("2027-03-01T00:00:00Z"));
    expect(cert.renewAt.getTime()).toBeLessThanOrEqual(Date.parse("2027-03-03T00:00:00Z"));

    // The CA moves the window earlier (e.g. a mass revocation); the next tick after Retry-After sees it.
    proxy.clearRules();
    proxy.addRule({
      method: "GET",
      path: "/dir",
      times: Infinity,
      fault: { kind: "rewriteJson", edit: (json) => ({ ...(json as object), renewalInfo: `${proxy.url}/renewal-info` }) },
    });
    const past = new Date(now - 86_400_000).toISOString();
    ariWindow(past, new Date(now + 60_000).toISOString());
    // The first renewal order says the certificate was already replaced: retried without `replaces`.
    proxy.addRule({
      method: "POST",
      path: "/order-plz",
      fault: { kind: "status", status: 409, problemType: "urn:ietf:params:acme:error:alreadyReplaced", detail: "already replaced", withNonce: true },
    });
    now += 3_600_001;
    const result = await m.renewDue();
    expect(result.renewed).toEqual([cert.id]);
    const renewed = await m.getCertificate("ari.example.test");
    expect(renewed?.serialNumber).not.toBe(cert.serialNumber);
    expect(proxy.requests.some((r) => r.path === "/order-plz" && r.status === 409)).toBe(true);
    expect(events.map((e) => e.type)).toContain("certificate_renewed");
  });

  it("falls back to the next issuer when the first cannot issue", async () => {
    const m = new CertificateManager({
      storage: new MemoryStorage(),
      // Nothing listens here: every request fails, so the fallback CA issues.
      directoryUrl: "https://127.0.0.1:1/dir",
      issuers: [{ directoryUrl: pebble.directoryUrl, fetch: pebble.fetch }],
      retry: { maxAttempts: 1 },
      solvers: { "http-01": new StorageHttp01Solver(storage) },
    });
    const cert = await m.manage(["fallback.example.test"]);
    expect(parseCertificate(cert.chainPem).dnsNames).toEqual(["fallback.example.test"]);
    expect(cert.issuer).toMatch(/Pebble/);
  });
});
