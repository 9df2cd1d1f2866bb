import { describe, expect, it, vi } from "vitest";
import { failureOf, hostAllowList, renewAtFromLifetime, type CertificateManager, type CertificateManagerOptions } from "../../src/manager/index.ts";
import { certificateId } from "../../src/manager/storage-keys.ts";
import { toIdentifiers } from "../../src/acme/identifiers.ts";
import { MemoryStorage } from "../../src/storage/memory-storage.ts";
import type { Storage } from "../../src/storage/storage.ts";
import { exportPrivateKeyPem, generateKeyPair } from "../../src/index.ts";
import { bedManager, useManagerBed } from "../support/manager-bed.ts";
import { Crash, crashable } from "../support/crashable.ts";
import { countingFetch } from "../support/request-counter.ts";
import { VirtualClock } from "../support/virtual-clock.ts";
import { virtualLeases } from "../support/virtual-leases.ts";

// Each test reproduces one defect of issue 11 against real Pebble; each failed on the code before it.
const bed = useManagerBed();

const manager = (storage: Storage, extra: Partial<CertificateManagerOptions> = {}): CertificateManager => bedManager(bed, storage, extra);
let unique = 0;
const names = (tag: string, n = 1) => Array.from({ length: n }, (_, i) => `${tag}${++unique}-${i}.recovery.test`);
const newOrders = (c: ReturnType<typeof countingFetch>) => c.requests.filter((r) => r.method === "POST" && r.url.includes("/order-plz")).length;

describe("manager recovery (issue 11)", () => {
  it("defect 3: a crash right after the certificate write — a fresh process serves every name, before and after manage()", async () => {
    const storage = (bed.tokens = new MemoryStorage());
    const list = names("index", 3);
    const dying = crashable({ fetch: bed.pebble.fetch, storage }, { putKey: /^certificates\// });
    await expect(manager(dying.storage, { fetch: dying.fetch }).manage(list)).rejects.toThrow(Crash);
    expect((await storage.list("certificates/")).keys).toHaveLength(1);
    // Issue 23: the names are written before the certificate, so they are all there already and a
    // fresh process serves them with no repair pass.
    expect((await storage.list("names/")).keys).toHaveLength(3);
    const stored = await manager(storage).find(list);
    for (const name of list) expect((await manager(storage).getCertificate(name))?.serialNumber, name).toBe(stored?.serialNumber);
    const counter = countingFetch(bed.pebble.fetch);
    // The rerun finds the certificate (not due) and drops the leftover intent without a new order.
    const cert = await manager(storage, { fetch: counter.fetch }).manage(list);
    expect(newOrders(counter)).toBe(0);
    const fresh = manager(storage, { fetch: counter.fetch });
    for (const name of list) expect((await fresh.getCertificate(name))?.serialNumber, name).toBe(cert.serialNumber);
    expect((await storage.list("orders/")).keys).toEqual([]);
  });

  it("defect 4: a run killed after its challenges were validated leaves no live token once the order is resumed", async () => {
    const storage = (bed.tokens = new MemoryStorage());
    const list = names("token", 2);
    // Die right after the CA answered the last challenge POST: authorizations valid, tokens stored.
    const probe = countingFetch(bed.pebble.fetch);
    bed.tokens = new MemoryStorage();
    const probeStorage = bed.tokens;
    await manager(probeStorage, { fetch: probe.fetch }).manage(names("probe", 2));
    const lastChallenge = probe.requests.map((r) => r.method === "POST" && r.url.includes("/chalZ/")).lastIndexOf(true);
    expect(lastChallenge).toBeGreaterThan(0);
    bed.tokens = storage;
    const dying = crashable({ fetch: bed.pebble.fetch, storage }, { request: lastChallenge + 1 });
    await expect(manager(dying.storage, { fetch: dying.fetch }).manage(list)).rejects.toThrow();
    expect(dying.dead).toBe(true);
    expect((await storage.list("challenges/")).keys.length).toBeGreaterThan(0);
    // The rerun comes at once, whether or not the CA has finished validating what the dead run answered.
    const counter = countingFetch(bed.pebble.fetch);
    const cert = await manager(storage, { fetch: counter.fetch }).manage(list);
    expect(cert.names.sort()).toEqual([...list].sort());
    expect(newOrders(counter)).toBe(0); // resumed, not ordered again
    expect((await storage.list("challenges/")).keys).toEqual([]);
    expect((await storage.list("orders/")).keys).toEqual([]);
  });

  it("defect 4: renewDue sweeps tokens no order intent lists, and abandoned intents after an hour", async () => {
    const storage = (bed.tokens = new MemoryStorage());
    let now = Date.now();
    const m = manager(storage, { now: () => now });
    await m.manage(names("sweep"));
    await storage.put("challenges/http-01/orphan-token", "orphan.key-authorization");
    const key = await generateKeyPair("ES256");
    const orphan = toIdentifiers(names("abandoned"));
    const orphanId = await certificateId(orphan);
    await storage.put(
      `orders/${orphanId}.json`,
      JSON.stringify({ id: orphanId, identifiers: orphan, directoryUrl: bed.pebble.directoryUrl, accountUrl: "x", keyPem: await exportPrivateKeyPem(key.privateKey), tokens: ["listed-token"], createdAt: new Date(now).toISOString() }),
    );
    await storage.put("challenges/http-01/listed-token", "listed.key-authorization");
    await m.renewDue();
    expect((await storage.list("challenges/")).keys).toEqual(["challenges/http-01/listed-token"]);
    now += 3_600_001;
    await m.renewDue();
    expect((await storage.list("challenges/")).keys).toEqual([]);
    expect((await storage.list("orders/")).keys).toEqual([]);
  });

  it("defect 5: a wildcard certificate serves the names it covers, one label deep (RFC 6125 §6.4.3)", async () => {
    const storage = new MemoryStorage();
    const id = "_wildcard.wild.test-x";
    const record = {
      id,
      identifiers: [{ type: "dns", value: "*.wild.test" }],
      directoryUrl: bed.pebble.directoryUrl,
      chainPem: "chain",
      keyPem: "key",
      serialNumber: "01",
      issuer: "CN=test",
      notBefore: new Date(Date.now() - 1000).toISOString(),
      notAfter: new Date(Date.now() + 86_400_000).toISOString(),
      orderUrl: "https://ca/order/1",
      issuedAt: new Date().toISOString(),
      renewal: { renewAt: Date.now() + 86_400_000 / 2, failures: 0 },
    };
    await storage.put(`certificates/${id}.json`, JSON.stringify(record));
    await storage.put("names/_wildcard.wild.test", JSON.stringify({ id }));
    const m = manager(storage);
    expect((await m.getCertificate("www.wild.test"))?.id).toBe(id);
    expect((await m.getCertificate("WWW.Wild.Test."))?.id).toBe(id);
    expect(await m.getCertificate("wild.test")).toBeUndefined();
    expect(await m.getCertificate("a.b.wild.test")).toBeUndefined();
  });

  it("defect 6: an order the CA no longer has (404) is dropped and ordered anew", async () => {
    const storage = (bed.tokens = new MemoryStorage());
    const list = names("forgot");
    const identifiers = toIdentifiers(list);
    const id = await certificateId(identifiers);
    const m = manager(storage);
    // Account first, so the intent can name it.
    await m.manage(names("account"));
    const accountKey = (await storage.list("accounts/")).keys[0]!;
    const account = JSON.parse(new TextDecoder().decode(await storage.get(accountKey))) as { url: string };
    const key = await generateKeyPair("ES256");
    await storage.put(
      `orders/${id}.json`,
      JSON.stringify({ id, identifiers, directoryUrl: bed.pebble.directoryUrl, accountUrl: account.url, keyPem: await exportPrivateKeyPem(key.privateKey), orderUrl: `${new URL(bed.pebble.directoryUrl).origin}/my-order/forgotten`, createdAt: new Date().toISOString() }),
    );
    const cert = await manager(storage).manage(list);
    expect(cert.names).toEqual(list);
    expect((await storage.list("orders/")).keys).toEqual([]);
  });

  it("defect 6: lost-order recovery never picks up an order that was already used for the current certificate", async () => {
    const storage = (bed.tokens = new MemoryStorage());
    const list = names("used");
    const identifiers = toIdentifiers(list);
    const id = await certificateId(identifiers);
    const first = await manager(storage).manage(list);
    const account = JSON.parse(new TextDecoder().decode(await storage.get((await storage.list("accounts/")).keys[0]!))) as { url: string };
    // A crash right after the renewal's intent was written, before newOrder answered: no order URL.
    const key = await generateKeyPair("ES256");
    await storage.put(
      `orders/${id}.json`,
      JSON.stringify({ id, identifiers, directoryUrl: bed.pebble.directoryUrl, accountUrl: account.url, keyPem: await exportPrivateKeyPem(key.privateKey), createdAt: new Date().toISOString() }),
    );
    const renewed = await manager(storage).renew(list);
    expect(renewed.serialNumber).not.toBe(first.serialNumber);
    expect(renewed.failure).toBeUndefined();
  });

  it("defect 7: a failing on-demand name starts one order per backoff window and leaves no key-bearing intent", async () => {
    const storage = new MemoryStorage();
    bed.tokens = new MemoryStorage(); // the CA sees no token: validation fails
    const [name] = names("ondemand");
    const counter = countingFetch(bed.pebble.fetch);
    const m = manager(storage, { fetch: counter.fetch, hostPolicy: hostAllowList(`*.${name!.split(".").slice(1).join(".")}`, name!) });
    const outcomes: string[] = [];
    for (let i = 0; i < 6; i++) outcomes.push(await m.getCertificate(name!).then((c) => (c ? "cert" : "none"), () => "error"));
    expect(outcomes).toEqual(["error", "none", "none", "none", "none", "none"]);
    expect(newOrders(counter)).toBe(1);
    expect((await storage.list("orders/")).keys).toEqual([]);
    expect((await storage.list("challenges/")).keys).toEqual([]);
  });

  it("defect 7: on-demand orders are bounded per hour", async () => {
    const storage = (bed.tokens = new MemoryStorage());
    const list = names("hourly", 3);
    const m = manager(storage, { hostPolicy: hostAllowList(...list), onDemand: { maxPerHour: 2 } });
    expect((await m.getCertificate(list[0]!))?.names).toEqual([list[0]]);
    expect((await m.getCertificate(list[1]!))?.names).toEqual([list[1]]);
    expect(await m.getCertificate(list[2]!)).toBeUndefined();
    // Served certificates are not orders: still served.
    expect((await m.getCertificate(list[0]!))?.names).toEqual([list[0]]);
  });

  it("defect 8: one failure state — the certificate shows it, nextCheckAt waits for it, the error carries it", async () => {
    const storage = (bed.tokens = new MemoryStorage());
    let now = Date.now();
    // The renewal fails twice over: the CA refuses new orders (rejectedIdentifier, RFC 8555 §6.7) and the
    // http-01 responder has no tokens. (Relying on the failed validation alone, a loaded full run saw
    // maintain() succeed twice; the refusal makes the failure certain.)
    let refuse = false;
    const refusing: typeof fetch = (input, init) =>
      refuse && init?.method === "POST" && String(input instanceof Request ? input.url : input).endsWith("/order-plz")
        ? Promise.resolve(new Response(JSON.stringify({ type: "urn:ietf:params:acme:error:rejectedIdentifier", detail: "refused (test)", status: 400 }), { status: 400, headers: { "content-type": "application/problem+json" } }))
        : bed.pebble.fetch(input, init);
    const m = manager(storage, { now: () => now, fetch: refusing });
    const list = names("failstate");
    const cert = await m.manage(list);
    expect(cert.failure).toBeUndefined();
    bed.tokens = new MemoryStorage();
    refuse = true;
    now = cert.renewAt.getTime() + 1;
    const err = await m.maintain(list).catch((e: unknown) => e);
    const failure = failureOf(err);
    const said = err instanceof Error ? `${err.name}: ${err.message}` : `renewed=${(err as { renewed?: boolean }).renewed} serial=${(err as { certificate?: { serialNumber?: string } }).certificate?.serialNumber} (first ${cert.serialNumber})`;
    expect(failure?.failures, `maintain gave ${said}`).toBe(1);
    expect(failure!.nextAttemptAt.getTime()).toBeGreaterThan(now);
    const after = await m.find(list);
    expect(after?.failure?.failures).toBe(1);
    expect(after?.failure?.lastError).toBe((err as Error).message.slice(0, 1000));
    // A scheduler using nextCheckAt does not come back before the backoff ends.
    expect(after!.nextCheckAt.getTime()).toBe(failure!.nextAttemptAt.getTime());
    // Until then maintain() does not try again; the certificate is still served.
    expect((await m.maintain(list)).renewed).toBe(false);
    bed.tokens = storage;
    refuse = false;
    now = after!.nextCheckAt.getTime() + 1;
    const healed = await m.maintain(list);
    expect(healed.renewed).toBe(true);
    expect(healed.certificate.failure).toBeUndefined();
  });

  it("point 9: a lease shorter than a slow issuance is kept alive by the heartbeat — one order, no lost lock", async () => {
    // Leases, heartbeat and watchdog on a virtual clock: four lease lifetimes pass while the CA holds the
    // finalize request, however loaded the machine (a real 300 ms lease lapsed under load here).
    const storage = (bed.tokens = new MemoryStorage());
    const clock = new VirtualClock();
    const leases = virtualLeases(storage, clock);
    const counter = countingFetch(bed.pebble.fetch);
    let finalizing!: () => void;
    const atFinalize = new Promise<void>((resolve) => (finalizing = resolve));
    let resume!: () => void;
    const resumed = new Promise<void>((resolve) => (resume = resolve));
    const slow: typeof fetch = async (input, init) => {
      const url = typeof input === "string" ? input : input instanceof URL ? input.href : input.url;
      if (url.includes("/finalize-order/")) {
        finalizing();
        await resumed;
      }
      return counter.fetch(input, init);
    };
    const list = names("heartbeat");
    await manager(storage).manage(names("warm"));
    counter.reset();
    const ttl = 300;
    // The lease check before each CA request reads the same virtual clock (leaseClock).
    const a = manager(leases, { fetch: slow, lockTtlMs: ttl, sleep: clock.sleep, leaseClock: clock.now }).manage(list);
    await atFinalize;
    const b = manager(leases, { fetch: counter.fetch, lockTtlMs: ttl, sleep: clock.sleep, leaseClock: clock.now }).manage(list);
    await vi.waitFor(() => expect(leases.waiting, "b waits for the lock a holds").toBeGreaterThan(0), { timeout: 30_000, interval: 10 });
    await clock.advance(4 * ttl);
    resume();
    const [first, second] = await Promise.all([a, b]);
    expect(second.serialNumber).toBe(first.serialNumber);
    expect(newOrders(counter)).toBe(1);
    expect(leases.lapses).toBe(0);
    // A renewal every third of the TTL: 12 in four lifetimes (the first may fall just past the end).
    expect(leases.renewals).toBeGreaterThanOrEqual(11);
  });

  it("point 9: renewBefore longer than the lifetime is clamped, so a new certificate is not due at once", () => {
    const day = 86_400_000;
    const t0 = Date.UTC(2027, 0, 1);
    // 30 days before expiry on a 6-day certificate: at most half the lifetime.
    expect(renewAtFromLifetime(t0, t0 + 6 * day, { ms: 30 * day })).toBe(t0 + 3 * day);
    expect(renewAtFromLifetime(t0, t0 + 6 * day, { ratio: 5 })).toBe(t0 + 3 * day);
    expect(renewAtFromLifetime(t0, t0 + 90 * day)).toBe(t0 + 60 * day);
  });
});
