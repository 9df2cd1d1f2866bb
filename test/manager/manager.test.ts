import { describe, expect, it, vi } from "vitest";
import { hostAllowList, type CertificateManager, type CertificateManagerOptions, type ManagerEvent } from "../../src/manager/index.ts";
import { MemoryStorage } from "../../src/storage/memory-storage.ts";
import type { Storage } from "../../src/storage/storage.ts";
import { certificateMatchesKey, importPrivateKeyPem, parseCertificate } from "../../src/index.ts";
import { bedManager, useManagerBed } from "../support/manager-bed.ts";
import { Crash, crashable } from "../support/crashable.ts";
import { countingFetch } from "../support/request-counter.ts";
import { EdgecertError } from "../../src/errors.ts";

const bed = useManagerBed();

const manager = (storage: Storage, extra: Partial<CertificateManagerOptions> = {}): CertificateManager =>
  bedManager(bed, storage, { email: "ops@example.test", ...extra });

async function storedCertificates(storage: Storage): Promise<string[]> {
  return (await storage.list("certificates/")).keys;
}

async function keyMatches(keyPem: string, chainPem: string): Promise<boolean> {
  return certificateMatchesKey(chainPem, await importPrivateKeyPem(keyPem));
}

let unique = 0;
const names = (tag: string, n = 2) => Array.from({ length: n }, (_, i) => `${tag}${++unique}-${i}.example.test`);

describe("CertificateManager", () => {
  it("manage() obtains once, stores one atomic record, and serves it from storage afterwards", async () => {
    const storage = (bed.tokens = new MemoryStorage());
    const counter = countingFetch(bed.pebble.fetch);
    const events: ManagerEvent[] = [];
    const m = manager(storage, { fetch: counter.fetch, onEvent: (e) => events.push(e) });
    const subscribed: string[] = [];
    const unsubscribe = m.subscribe((e) => subscribed.push(e.type));
    const list = names("m");
    const cert = await m.manage(list);
    unsubscribe();
    expect(subscribed).toEqual(events.map((e) => e.type));
    expect(parseCertificate(cert.chainPem).dnsNames.sort()).toEqual([...list].sort());
    expect(await keyMatches(cert.keyPem, cert.chainPem)).toBe(true);
    expect(events.map((e) => e.type)).toEqual(["certificate_obtaining", "account_created", "certificate_obtained"]);
    const afterFirst = counter.count();
    // Same names, any order: served from storage, no request.
    expect((await m.manage([...list].reverse())).serialNumber).toBe(cert.serialNumber);
    expect(counter.count()).toBe(afterFirst);
    // A new instance over the same storage reuses the stored account and certificate.
    const m2 = manager(storage, { fetch: counter.fetch });
    expect((await m2.getCertificate(list[1]!))?.serialNumber).toBe(cert.serialNumber);
    expect(counter.count()).toBe(afterFirst);
    expect(await storedCertificates(storage)).toHaveLength(1);
    // No pending order or token is left behind.
    expect((await storage.list("orders/")).keys).toEqual([]);
    expect((await storage.list("challenges/")).keys).toEqual([]);
  });

  it("getCertificate obtains on demand only when the host policy allows", async () => {
    const storage = (bed.tokens = new MemoryStorage());
    const [allowed] = names("allowed", 1);
    const m = manager(storage, { hostPolicy: hostAllowList(allowed!) });
    expect(await m.getCertificate("denied.example.test")).toBeUndefined();
    expect(await m.getCertificate("not a name")).toBeUndefined();
    const cert = await m.getCertificate(allowed!.toUpperCase());
    expect(cert?.names).toEqual([allowed]);
    expect(await storedCertificates(storage)).toHaveLength(1);
  });

  it("10 concurrent manage() calls on 10 instances sharing storage produce exactly one order", async () => {
    const storage = (bed.tokens = new MemoryStorage());
    const counter = countingFetch(bed.pebble.fetch);
    const list = names("conc");
    // One account first, so the race is about the certificate.
    await manager(storage, { fetch: counter.fetch }).manage(names("warm", 1));
    counter.reset();
    const results = await Promise.all(Array.from({ length: 10 }, () => manager(storage, { fetch: counter.fetch }).manage(list)));
    expect(new Set(results.map((r) => r.serialNumber)).size).toBe(1);
    expect(counter.requests.filter((r) => r.method === "POST" && r.url.includes("/order-plz")).length).toBe(1);
    expect(await storedCertificates(storage)).toHaveLength(2);
  });

  it("renewDue renews what is due, skips what is not, and backs off after a failure", async () => {
    const storage = (bed.tokens = new MemoryStorage());
    let now = Date.now();
    const events: string[] = [];
    const m = manager(storage, { now: () => now, onEvent: (e) => events.push(e.type) });
    const first = await m.manage(names("renew", 1));
    // Renewed a day before expiry rather than at 2/3 of the lifetime: not due when the first is.
    const second = await manager(storage, { now: () => now, renewBefore: { ms: 86_400_000 } }).manage(names("renew", 1));
    expect(second.renewAt.getTime()).toBeGreaterThan(first.renewAt.getTime());
    // Nothing due yet.
    expect(await m.renewDue()).toEqual({ checked: 2, renewed: [], failed: [] });
    // Past the first one's renewal time (2/3 of its lifetime): only it is renewed.
    now = first.renewAt.getTime() + 1;
    const r = await m.renewDue();
    expect(r.checked).toBe(2);
    expect(r.renewed).toEqual([first.id]);
    const renewed = await m.manage(first.names);
    expect(renewed.serialNumber).not.toBe(first.serialNumber);
    expect(events).toContain("certificate_renewed");

    // Break validation: renewal fails, is recorded with a backoff, and is not retried before it.
    bed.tokens = new MemoryStorage();
    now = renewed.renewAt.getTime() + 1;
    const failed = await m.renewDue();
    expect(failed.failed.map((f) => f.id)).toEqual([first.id]);
    expect(events.at(-1)).toBe("certificate_failed");
    const again = await m.renewDue();
    expect(again.failed).toEqual([]);
    expect(again.renewed).toEqual([]);
    // The old certificate is still served meanwhile.
    expect((await m.getCertificate(first.names[0]!))?.serialNumber).toBe(renewed.serialNumber);
  });

  it("survives a crash at every step: one certificate, a matching key, and one newOrder in all", async () => {
    // A clean run tells how many requests and writes there are to crash after.
    const probeStorage = (bed.tokens = new MemoryStorage());
    const probe = crashable({ fetch: bed.pebble.fetch, storage: probeStorage }, {});
    await manager(probe.storage, { fetch: probe.fetch }).manage(names("probe", 1));
    const points = [
      ...Array.from({ length: probe.requests }, (_, i) => ({ request: i + 1 })),
      ...Array.from({ length: probe.puts }, (_, i) => ({ put: i + 1 })),
    ];
    expect(points.length).toBeGreaterThan(10);
    let crashed = 0;
    for (const crashAt of points) {
      const storage = (bed.tokens = new MemoryStorage());
      const list = names("crash", 1);
      const counter = countingFetch(bed.pebble.fetch);
      const dying = crashable({ fetch: counter.fetch, storage }, crashAt);
      const first = await manager(dying.storage, { fetch: dying.fetch }).manage(list).catch((e: unknown) => e);
      const where = JSON.stringify(crashAt);
      let cert: Awaited<ReturnType<CertificateManager["manage"]>>;
      if (dying.dead) {
        crashed++;
        expect(first, where).toBeInstanceOf(Error);
        // The rerun: a fresh instance over the same storage, at once — the CA may still be validating
        // what the dead run answered (test/manager/resume-while-validating.test.ts searches that).
        cert = await manager(storage, { fetch: counter.fetch }).manage(list);
      } else {
        // This run needed fewer requests than the probe (the CA was ready sooner: fewer polls), so it
        // has no Nth step to die after; it must have finished, and nothing else may differ.
        const reached = "request" in crashAt ? [crashAt.request, dying.requests] : [crashAt.put, dying.puts];
        expect(reached[0], `${where}: the run finished without reaching it`).toBeGreaterThan(reached[1]!);
        cert = first as typeof cert;
      }
      expect(await storedCertificates(storage), where).toHaveLength(1);
      expect(await keyMatches(cert.keyPem, cert.chainPem), where).toBe(true);
      expect(counter.requests.filter((r) => r.method === "POST" && r.url.includes("/order-plz")).length, where).toBe(1);
      expect(parseCertificate(cert.chainPem).dnsNames, where).toEqual(list);
    }
    console.log(`crash points: ${points.length} (${probe.requests} requests, ${probe.puts} writes); crashed at ${crashed}, the rest beyond a shorter run's requests`);
    // Only trailing polls can be missing from a run: nearly every point crashed.
    expect(crashed).toBeGreaterThanOrEqual(points.length - 3);
    void Crash;
  });

  it("revoke() revokes at the CA and forgets the certificate; remove() only forgets", async () => {
    const storage = (bed.tokens = new MemoryStorage());
    const events: string[] = [];
    const m = manager(storage, { onEvent: (e) => events.push(e.type) });
    const a = await m.manage(names("revoke", 1));
    await m.revoke(a.names[0]!, 1);
    expect(events).toContain("certificate_revoked");
    expect(await m.getCertificate(a.names[0]!)).toBeUndefined();
    const b = await m.manage(names("remove", 1));
    expect(await m.remove(b.names[0]!)).toBe(true);
    expect(await m.remove(b.names[0]!)).toBe(false);
    expect(await storedCertificates(storage)).toHaveLength(0);
    // Forgotten means forgotten, in memory too: managing the names again issues a new certificate.
    const again = await m.manage(b.names);
    expect(again.serialNumber).not.toBe(b.serialNumber);
    expect(await m.remove(b.names)).toBe(true);

    // Overlapping name sets: a name set picks its own certificate, whatever serves the shared name.
    const [shared, other] = names("overlap", 2);
    const small = await m.manage([shared!]);
    const big = await m.manage([shared!, other!]);
    // Both list the name exactly: the later notAfter serves it (the smaller id on a tie).
    const pick = big.notAfter > small.notAfter || (big.notAfter.getTime() === small.notAfter.getTime() && big.id < small.id) ? big : small;
    expect((await m.getCertificate(shared!))?.id).toBe(pick.id);
    await m.revoke([shared!], 4);
    expect(await m.find([shared!])).toBeUndefined();
    expect((await m.find([shared!, other!]))?.serialNumber).toBe(big.serialNumber);
    expect(await m.remove([shared!, other!])).toBe(true);
    expect(await storedCertificates(storage)).toHaveLength(0);
  });

  it("manage() ends when its signal fires while the account is being created, without waiting out the account requests' retries (the CLI took 17 s to report a busy --http port)", async () => {
    // The CLI's fetch refuses every request once its --http port could not be bound, and aborts the
    // manager's signal; the account's creation, shared by every caller, retries the refused requests.
    const gaveUp = new AbortController();
    let calls = 0;
    const refusing: typeof fetch = async () => {
      calls++;
      gaveUp.abort(new EdgecertError("invalid_input", "the port is busy"));
      throw new TypeError("fetch failed");
    };
    // Retries ten minutes apart: waiting for them is a test timeout, not a pass.
    const m = manager(new MemoryStorage(), { fetch: refusing, retry: { baseDelayMs: 600_000, maxDelayMs: 600_000, maxAttempts: 8 } });
    const err = await m.manage(names("gaveup", 1), { signal: gaveUp.signal }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(EdgecertError);
    expect((err as EdgecertError).message).toBe("the port is busy");
    expect(calls).toBe(1);
  });

  it("lookup() serves what getCertificate would (exact, then wildcard) but never asks the CA, even when due or expired", async () => {
    const storage = (bed.tokens = new MemoryStorage());
    const [base] = names("lk", 1);
    const cert = await manager(storage).manage([base!]);
    const counter = countingFetch(bed.pebble.fetch);
    // The locks the looking-up instances ask for: a renewal takes the certificate's lock before it stores anything.
    const locks: string[] = [];
    const watched = new Proxy(storage, {
      get(target, key) {
        if (key === "lock") return (name: string, options?: Parameters<Storage["lock"]>[1]) => (locks.push(name), target.lock(name, options));
        const value: unknown = Reflect.get(target, key, target);
        return typeof value === "function" ? value.bind(target) : value;
      },
    });
    // The same store seen by an instance whose clock is past the renewal time, then past expiry.
    for (const at of [cert.renewAt.getTime() + 60_000, cert.notAfter.getTime() + 60_000]) {
      const later = manager(watched, { fetch: counter.fetch, now: () => at });
      expect((await later.lookup(base!))?.serialNumber).toBe(cert.serialNumber);
      expect((await later.lookup(base!.toUpperCase()))?.serialNumber).toBe(cert.serialNumber);
      expect(await later.lookup(`x.${base}`)).toBeUndefined();
      expect(await later.lookup("not a name")).toBeUndefined();
    }
    // getCertificate on a due instance does start a renewal: the lookups above are not vacuous. A renewal
    // one of them started would have set out earlier along the same steps, so by the time this one reaches
    // the CA it would have asked for the lock or the CA too (an event to wait for, not a fixed sleep that
    // a loaded machine outlasts).
    const control = countingFetch(bed.pebble.fetch);
    const due = manager(storage, { fetch: control.fetch, now: () => cert.renewAt.getTime() + 60_000 });
    expect((await due.getCertificate(base!))?.serialNumber).toBe(cert.serialNumber);
    await vi.waitFor(() => expect(control.count()).toBeGreaterThan(0), { timeout: 30_000, interval: 20 });
    expect(locks).toEqual([]);
    expect(counter.count()).toBe(0);
  });
});
