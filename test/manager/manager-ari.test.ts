import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CertificateManager, StorageHttp01Solver, failureOf, type CertificateRecord, type ManagerEvent } from "../../src/manager/index.ts";
import { MemoryStorage } from "../../src/storage/memory-storage.ts";
import { parseCertificate } from "../../src/index.ts";
import { serveHttp01, type Http01Server } from "../support/challenge-servers.ts";
import { startFaultProxy, type FaultProxy } from "../support/fault-proxy.ts";
import { startPebble, type PebbleInstance } from "../support/pebble.ts";

// Pebble 2.4 has no ARI: a proxy adds renewalInfo to the directory and answers it.
let pebble: PebbleInstance;
let proxy: FaultProxy;
/** A second CA front (same Pebble), for fallback-issuer tests. */
let proxyB: FaultProxy;
let http: Http01Server;
const storage = new MemoryStorage();

beforeAll(async () => {
  pebble = await startPebble();
  proxy = await startFaultProxy({ upstream: new URL(pebble.directoryUrl).origin, upstreamCa: pebble.caPem, tls: true });
  http = await serveHttp01(pebble.httpPort, { respond: (path) => new StorageHttp01Solver(storage).response(path.split("/").pop() ?? "") });
  proxy.addRule(withAri(proxy));
  proxyB = await startFaultProxy({ upstream: new URL(pebble.directoryUrl).origin, upstreamCa: pebble.caPem, tls: true });
});
afterAll(async () => {
  await proxyB?.close();
  await http?.close();
  await proxy?.close();
  await pebble?.stop();
});

/** The rule that makes a proxy's directory offer renewalInfo (RFC 9773). */
function withAri(p: FaultProxy) {
  return {
    method: "GET",
    path: "/dir",
    times: Infinity,
    fault: { kind: "rewriteJson" as const, edit: (json: unknown) => ({ ...(json as object), renewalInfo: `${p.url}/renewal-info` }) },
  };
}

function ariWindow(start: string, end: string, retryAfter = "3600", p: FaultProxy = proxy) {
  p.addRule({
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
    const m = new CertificateManager({ termsOfServiceAgreed: true, storage, directoryUrl: proxy.directoryUrl, fetch: proxy.fetch, now: () => now, onEvent: (e) => events.push(e) });
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
      termsOfServiceAgreed: true,
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

  it("defect 1: an ARI refresh from a cached record never writes back the certificate another instance renewed", async () => {
    proxy.clearRules();
    proxy.addRule(withAri(proxy));
    ariWindow("2030-03-01T00:00:00Z", "2030-03-03T00:00:00Z");
    const shared = new MemoryStorage();
    let now = Date.now();
    const options = { termsOfServiceAgreed: true, storage: shared, directoryUrl: proxy.directoryUrl, fetch: proxy.fetch, now: () => now, solvers: { "http-01": new StorageHttp01Solver(storage) } };
    // A serves from memory for a long time; B renews meanwhile.
    const a = new CertificateManager({ ...options, cacheTtlMs: 10 * 3_600_000 });
    const first = await a.manage(["lost-update.example.test"]);
    now += 1_000;
    const renewed = await new CertificateManager(options).renew(["lost-update.example.test"]);
    expect(renewed.serialNumber).not.toBe(first.serialNumber);
    // Past the CA's Retry-After, A's tick refreshes the renewal window.
    now += 3_600_001;
    await a.renewDue();
    const stored = await new CertificateManager(options).find(["lost-update.example.test"]);
    expect(stored?.serialNumber).toBe(renewed.serialNumber);
    expect(stored?.keyPem).toBe(renewed.keyPem);
  });

  it("point 9: replaces is sent only to the CA that issued the certificate, not to a fallback", async () => {
    proxy.clearRules();
    proxy.addRule(withAri(proxy));
    ariWindow("2030-03-01T00:00:00Z", "2030-03-03T00:00:00Z");
    proxyB.clearRules();
    proxyB.addRule(withAri(proxyB));
    ariWindow("2030-03-01T00:00:00Z", "2030-03-03T00:00:00Z", "3600", proxyB);
    const m = new CertificateManager({
      termsOfServiceAgreed: true,
      storage: new MemoryStorage(),
      directoryUrl: proxy.directoryUrl,
      fetch: proxy.fetch,
      issuers: [{ directoryUrl: proxyB.directoryUrl, fetch: proxyB.fetch }],
      retry: { maxAttempts: 1 },
      solvers: { "http-01": new StorageHttp01Solver(storage) },
    });
    const first = await m.manage(["replaces.example.test"]);
    expect(first.directoryUrl).toBe(proxy.directoryUrl);
    // The issuing CA is down for new orders: the fallback issues the renewal.
    proxy.addRule({ method: "POST", path: "/order-plz", times: Infinity, fault: { kind: "status", status: 500, detail: "down" } });
    const renewed = await m.renew(["replaces.example.test"]);
    expect(renewed.directoryUrl).toBe(proxyB.directoryUrl);
    const sent = proxyB.requests.filter((r) => r.method === "POST" && r.path === "/order-plz").map((r) => r.payload as Record<string, unknown>);
    expect(sent.length).toBeGreaterThan(0);
    expect(sent.every((p) => p.replaces === undefined)).toBe(true);
  });

  it("defect 8: the CA's Retry-After on a failed renewal pushes the next attempt out (one failure state)", async () => {
    proxy.clearRules();
    proxy.addRule(withAri(proxy));
    ariWindow("2030-03-01T00:00:00Z", "2030-03-03T00:00:00Z");
    const shared = new MemoryStorage();
    const m = new CertificateManager({ termsOfServiceAgreed: true, storage: shared, directoryUrl: proxy.directoryUrl, fetch: proxy.fetch, retry: { maxAttempts: 1 }, solvers: { "http-01": new StorageHttp01Solver(storage) } });
    const cert = await m.manage(["retry-after.example.test"]);
    proxy.addRule({ method: "POST", path: "/order-plz", times: Infinity, fault: { kind: "status", status: 429, retryAfter: "7200", detail: "slow down", withNonce: true } });
    const before = Date.now();
    const err = await m.renew(["retry-after.example.test"]).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Error);
    const stored = JSON.parse(new TextDecoder().decode(await shared.get(`certificates/${cert.id}.json`))) as CertificateRecord;
    expect(stored.serialNumber).toBe(cert.serialNumber);
    expect(stored.renewal.failures).toBe(1);
    expect(stored.renewal.nextAttemptAt).toBeGreaterThanOrEqual(before + 7_200_000);
    expect(failureOf(err)?.nextAttemptAt.getTime()).toBe(stored.renewal.nextAttemptAt);
    proxy.clearRules();
    proxy.addRule(withAri(proxy));
  });
});
