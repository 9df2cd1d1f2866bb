import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CertificateManager, DnsPersist01Solver, MemoryStorage, UnknownProfileError, parseCertificate } from "../../src/index.ts";
import { startDohServer, type DohServer } from "../support/doh-server.ts";
import { startPebble, type PebbleInstance } from "../support/pebble.ts";
import { startPersistProxy, type PersistProxy } from "../support/persist-proxy.ts";

// The manager path: its profile option reaches the order, and dns-persist-01 works through its solvers.
let pebble: PebbleInstance;
let doh: DohServer;
let ca: PersistProxy;

beforeAll(async () => {
  pebble = await startPebble();
  doh = await startDohServer(pebble.dnsPort);
  ca = await startPersistProxy(pebble, { profiles: { classic: "c", shortlived: "s" } });
});
afterAll(async () => {
  await ca?.close();
  await doh?.close();
  await pebble?.stop();
});

const manager = (profile: string) =>
  new CertificateManager({
    termsOfServiceAgreed: true,
    storage: new MemoryStorage(),
    directoryUrl: ca.directoryUrl,
    fetch: ca.fetch,
    profile,
    solvers: { "dns-persist-01": new DnsPersist01Solver({ resolver: doh.url, fetch: ca.fetch }) },
  });

describe("CertificateManager with dns-persist-01 and a profile", () => {
  it("lists the records for its account, then issues a wildcard + apex with the profile it was given", async () => {
    const m = manager("shortlived");
    const { records, accountUri } = await m.dnsPersistRecords(["*.mgr.test", "mgr.test"]);
    expect(records.map((r) => r.value)).toEqual([`persist.stand-in.test; accounturi=${accountUri}; policy=wildcard`]);
    for (const r of records) await pebble.setTxt(r.name, r.value);
    const before = ca.requestedProfiles.length;
    const cert = await m.manage(["*.mgr.test", "mgr.test"]);
    expect(parseCertificate(cert.chainPem).dnsNames.sort()).toEqual(["*.mgr.test", "mgr.test"]);
    expect(ca.requestedProfiles.slice(before)).toEqual(["shortlived"]);
  });

  it("a profile the CA does not offer surfaces as UnknownProfileError listing the offered ones", async () => {
    const err = await manager("longlived").manage(["nope.mgr.test"]).catch((e: unknown) => e);
    let cause: unknown = err;
    while (cause instanceof Error && !(cause instanceof UnknownProfileError)) cause = cause.cause;
    expect(cause).toBeInstanceOf(UnknownProfileError);
    expect((cause as UnknownProfileError).offered).toEqual(["classic", "shortlived"]);
  });
});

describe("per-certificate profile in the manager", () => {
  it("manage(names, { profile }) asks for it, keeps it in the record and asks again on renewal", async () => {
    const storage = new MemoryStorage();
    const m = new CertificateManager({
      termsOfServiceAgreed: true,
      storage,
      directoryUrl: ca.directoryUrl,
      fetch: ca.fetch,
      profile: "classic",
      solvers: { "dns-persist-01": new DnsPersist01Solver({ resolver: doh.url, fetch: ca.fetch }) },
    });
    const names = ["per-cert.mgr.test"];
    for (const r of (await m.dnsPersistRecords(names)).records) await pebble.setTxt(r.name, r.value);
    const before = ca.requestedProfiles.length;
    await m.manage(names, { profile: "shortlived" });
    // Another certificate of the same manager keeps the manager's default.
    for (const r of (await m.dnsPersistRecords(["other.mgr.test"])).records) await pebble.setTxt(r.name, r.value);
    await m.manage(["other.mgr.test"]);
    await m.renew(names);
    expect(ca.requestedProfiles.slice(before)).toEqual(["shortlived", "classic", "shortlived"]);
  });
});
