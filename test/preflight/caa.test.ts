/**
 * CAA before an order (issue 26): the policy rules of RFC 8659 §4 with RFC 8657's parameters, the
 * manager refusing a name its CAA records close to this CA or account before any order is sent, and
 * the answers kept across orders (counted at the DoH endpoint; the cache's own rules: caa-cache.test.ts) —
 * records served by pebble-challtestsrv's DNS, read over DoH (test/support/doh-server.ts), Pebble as
 * the CA.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { caaRefusal, pinningCaaRecord } from "../../src/preflight/caa-policy.ts";
import { CertificateManager } from "../../src/manager/certificate-manager.ts";
import { StorageHttp01Solver } from "../../src/manager/storage-http01-solver.ts";
import { MemoryStorage } from "../../src/storage/memory-storage.ts";
import { isEdgecertError } from "../../src/errors.ts";
import { serveHttp01, type Http01Server } from "../support/challenge-servers.ts";
import { startDohServer, type DohServer } from "../support/doh-server.ts";
import { startPebble, type PebbleInstance } from "../support/pebble.ts";
import { countingFetch } from "../support/request-counter.ts";

const issuance = { caIdentities: ["letsencrypt.org"], accountUri: "https://ca.example/acct/1", validationMethods: ["http-01"] };
const rec = (tag: string, value: string, flags = 0) => ({ flags, tag, value });

describe("CAA policy (RFC 8659 §4, RFC 8657)", () => {
  it.each([
    ["no records", "example.com", [], undefined],
    ["only iodef", "example.com", [rec("iodef", "mailto:x@example.com")], undefined],
    ["issue for this CA", "example.com", [rec("issue", "letsencrypt.org")], undefined],
    ["issue for another CA", "example.com", [rec("issue", "otherca.example")], "allows only otherca.example"],
    ["issue with no CA (;)", "example.com", [rec("issue", ";")], "allows no CA"],
    ["one of two issue records", "example.com", [rec("issue", "otherca.example"), rec("issue", "LetsEncrypt.org.")], undefined],
    ["issuewild decides for a wildcard", "*.example.com", [rec("issue", "letsencrypt.org"), rec("issuewild", ";")], "allows no CA"],
    ["issue decides for a wildcard without issuewild", "*.example.com", [rec("issue", "letsencrypt.org")], undefined],
    ["issuewild does not apply to a plain name", "www.example.com", [rec("issuewild", ";"), rec("issue", "letsencrypt.org")], undefined],
    ["accounturi of this account", "example.com", [rec("issue", "letsencrypt.org; accounturi=https://ca.example/acct/1")], undefined],
    ["accounturi of another account", "example.com", [rec("issue", "letsencrypt.org; accounturi=https://ca.example/acct/2")], "only the account https://ca.example/acct/2"],
    ["validationmethods that include http-01", "example.com", [rec("issue", "letsencrypt.org; validationmethods=dns-01,http-01")], undefined],
    ["validationmethods without http-01", "example.com", [rec("issue", "letsencrypt.org;validationmethods=dns-01")], "validation by dns-01"],
    ["an unknown critical property", "example.com", [rec("issue", "letsencrypt.org"), rec("tbs", "x", 128)], 'unknown property "tbs"'],
    ["an unknown property, not critical", "example.com", [rec("issue", "letsencrypt.org"), rec("tbs", "x")], undefined],
  ] as const)("%s", (_, name, records, refused) => {
    const refusal = caaRefusal(name, records, issuance);
    if (refused === undefined) expect(refusal).toBeUndefined();
    else expect(refusal?.reason).toContain(refused);
  });

  it("prints the record that pins this CA and account", () => {
    expect(pinningCaaRecord("example.com", issuance)).toBe('example.com. CAA 0 issue "letsencrypt.org; accounturi=https://ca.example/acct/1; validationmethods=http-01"');
    expect(caaRefusal("example.com", [rec("issue", "letsencrypt.org; accounturi=https://ca.example/acct/1; validationmethods=http-01")], issuance)).toBeUndefined();
  });
});

describe("the manager checks CAA before any order (Pebble, DoH)", () => {
  let pebble: PebbleInstance;
  let doh: DohServer;
  let http: Http01Server;
  const storage = new MemoryStorage();
  beforeAll(async () => {
    pebble = await startPebble();
    doh = await startDohServer(pebble.dnsPort);
    http = await serveHttp01(pebble.httpPort, { respond: (path) => new StorageHttp01Solver(storage).response(path.split("/").pop() ?? "") });
  });
  afterAll(async () => {
    await http?.close();
    await doh?.close();
    await pebble?.stop();
  });
  const addCaa = async (host: string, policies: Array<{ tag: string; value: string }>) => {
    const res = await fetch(`${pebble.challtestsrvUrl}/add-caa`, { method: "POST", body: JSON.stringify({ host: `${host}.`, policies }) });
    expect(res.ok).toBe(true);
  };
  const checkingManager = () => new CertificateManager({ termsOfServiceAgreed: true, storage, directoryUrl: pebble.directoryUrl, fetch: pebble.fetch, caaCheck: { resolverUrl: doh.url, caaIdentities: ["pebble.test"] } });
  /** Replaces the CAA records at `host` with one issue record. */
  const setCaa = async (host: string, value: string) => {
    expect((await fetch(`${pebble.challtestsrvUrl}/clear-caa`, { method: "POST", body: JSON.stringify({ host: `${host}.` }) })).ok).toBe(true);
    await addCaa(host, [{ tag: "issue", value }]);
  };

  it("refuses a name whose CAA allows another CA with caa_forbidden naming the record, sending no order; then issues where the record pins this account", async () => {
    const counter = countingFetch(pebble.fetch);
    const manager = new CertificateManager({
      termsOfServiceAgreed: true,
      storage,
      directoryUrl: pebble.directoryUrl,
      fetch: counter.fetch,
      caaCheck: { resolverUrl: doh.url, caaIdentities: ["pebble.test"] },
    });
    await addCaa("caa-deny.example", [{ tag: "issue", value: "otherca.example" }]);
    let error: unknown;
    await manager.manage(["www.caa-deny.example"]).catch((err: unknown) => (error = err));
    expect(isEdgecertError(error, "caa_forbidden")).toBe(true);
    expect(String(error)).toContain('caa-deny.example. CAA 0 issue "otherca.example"');
    const newOrders = counter.requests.filter((r) => r.url.endsWith("/order-plz")).length;
    console.log(`caa: refused with ${counter.requests.length} CA requests, ${newOrders} newOrder; DoH queries ${doh.requests.length}`);
    expect(newOrders).toBe(0);

    const account = (JSON.parse(new TextDecoder().decode((await storage.get((await storage.list("accounts/")).keys[0]!))!)) as { url: string }).url;
    // The record the manager prints for pinning, published as it says.
    const pinning = await manager.pinningCaaRecord("caa-pinned.example");
    expect(pinning).toBe(`caa-pinned.example. CAA 0 issue "pebble.test; accounturi=${account}; validationmethods=http-01"`);
    await addCaa("caa-pinned.example", [{ tag: "issue", value: /"(.*)"/.exec(pinning)![1]! }]);
    const cert = await manager.manage(["www.caa-pinned.example"]);
    expect(cert.names).toEqual(["www.caa-pinned.example"]);
    await addCaa("caa-other-account.example", [{ tag: "issue", value: `pebble.test; accounturi=${account}x` }]);
    error = undefined;
    await manager.manage(["www.caa-other-account.example"]).catch((err: unknown) => (error = err));
    expect(String(error)).toContain(`accounturi=${account}x`);
  });

  it("12 names under one domain: each name's own label asked once, the shared parents once (was 3 lookups per order)", { timeout: 120_000 }, async () => {
    const manager = checkingManager();
    await setCaa("caa-cache.example", "pebble.test");
    const names = Array.from({ length: 12 }, (_, i) => `n${i}.shop.caa-cache.example`);
    const before = doh.requests.length;
    // One order after another, as onboarding through manage() sends them.
    for (const name of names) expect((await manager.manage([name])).names).toEqual([name]);
    const queries = doh.requests.length - before;
    // n<i>.shop.caa-cache.example each (no records there), shop.caa-cache.example and caa-cache.example once.
    console.log(`caa cache: ${names.length} orders, ${queries} DoH queries (without the cache: ${names.length * 3})`);
    expect(queries).toBe(names.length + 2);
  });

  it("a refusal is confirmed with fresh lookups: a record fixed after a refusal lets the next order go at once", { timeout: 60_000 }, async () => {
    const manager = checkingManager();
    await setCaa("caa-fixed.example", "otherca.example");
    let error: unknown;
    await manager.manage(["a.caa-fixed.example"]).catch((err: unknown) => (error = err));
    expect(isEdgecertError(error, "caa_forbidden"), String(error)).toBe(true);
    // Fixed within the answer's cache time (one minute at least): the cached refusal is asked again.
    await setCaa("caa-fixed.example", "pebble.test");
    expect((await manager.manage(["b.caa-fixed.example"])).names).toEqual(["b.caa-fixed.example"]);
  });
});
