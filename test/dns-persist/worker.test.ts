import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseCertificate } from "../../src/index.ts";
import { startDohServer, type DohServer } from "../support/doh-server.ts";
import { startPebble, type PebbleInstance } from "../support/pebble.ts";
import { startPersistProxy, type PersistProxy } from "../support/persist-proxy.ts";
import { settled, startWorker, type WorkerInstance } from "../support/worker.ts";

// The Worker in workerd, against the dns-persist-01 stand-in in front of Pebble (test/support/persist-proxy.ts),
// with no DNS token: it only reads DNS (DoH) and the domain owner creates the records once.
let pebble: PebbleInstance;
let doh: DohServer;
let ca: PersistProxy;
let worker: WorkerInstance;
let plain: WorkerInstance;

interface Summary {
  id: string;
  names: string[];
  status: string;
  failures: number;
  lastError: string | null;
}

beforeAll(async () => {
  pebble = await startPebble();
  doh = await startDohServer(pebble.dnsPort);
  ca = await startPersistProxy(pebble, { profiles: { classic: "c", shortlived: "s" } });
  // The Worker reaches the stand-in (and the DoH endpoint) through the stand-in's trusting fetch.
  const bed = { ...pebble, directoryUrl: ca.directoryUrl, fetch: ca.fetch };
  worker = await startWorker(bed, { vars: { DNS_PERSIST_RESOLVER: doh.url, ACME_PROFILE: "shortlived" } });
  plain = await startWorker(bed, { port: 0 });
});
afterAll(async () => {
  await plain?.stop();
  await worker?.stop();
  await ca?.close();
  await doh?.close();
  await pebble?.stop();
});

describe("Worker: wildcard + apex with dns-persist-01 and no DNS token", () => {
  it("lists the records to create, refuses to answer the CA until they exist, then issues", async () => {
    const added = await worker.admin("/admin/certificates", { method: "POST", body: JSON.stringify({ names: ["*.edge.test", "edge.test"] }) });
    expect(added.status).toBe(202);
    const { id } = (await added.json()) as Summary;
    // The first attempt finds no record and stops before answering any challenge.
    const first = await settled(worker, id);
    expect(first.status).toBe("failed");
    expect(first.lastError).toMatch(/_validation-persist\.edge\.test/);
    expect(ca.validations).toEqual([]);

    const res = await worker.admin(`/admin/certificates/${id}/dns-persist`);
    expect(res.status).toBe(200);
    const plan = (await res.json()) as {
      accountUri: string;
      issuerDomainName: string;
      records: Array<{ name: string; value: string; covers: string[] }>;
      names: Array<{ name: string; status: string }>;
    };
    expect(plan.issuerDomainName).toBe("persist.stand-in.test");
    expect(plan.records).toEqual([
      expect.objectContaining({ name: "_validation-persist.edge.test", value: `persist.stand-in.test; accounturi=${plan.accountUri}; policy=wildcard`, covers: ["*.edge.test", "edge.test"] }),
    ]);
    expect(plan.names.map((n) => n.status)).toEqual(["missing", "missing"]);

    // The domain owner creates the record once.
    for (const r of plan.records) await pebble.setTxt(r.name, r.value);
    const after = (await (await worker.admin(`/admin/certificates/${id}/dns-persist`)).json()) as typeof plan;
    expect(after.names.map((n) => n.status)).toEqual(["present", "present"]);

    const renewed = await worker.admin(`/admin/certificates/${id}/renew`, { method: "POST" });
    expect(renewed.status).toBe(200);
    const body = (await (await worker.admin(`/admin/certificates/${id}`)).json()) as { status: string; certificate: { chainPem: string } };
    expect(body.status).toBe("valid");
    expect(parseCertificate(body.certificate.chainPem).dnsNames.sort()).toEqual(["*.edge.test", "edge.test"]);
    expect(ca.validations.map((v) => [v.identifier, v.wildcard, v.ok]).sort()).toEqual([["edge.test", false, true], ["edge.test", true, true]]);
    expect(ca.validations.every((v) => v.accountUri === plan.accountUri)).toBe(true);
  });

  it("without DNS_PERSIST_RESOLVER a wildcard is refused with a clear 400", async () => {
    const wild = await plain.admin("/admin/certificates", { method: "POST", body: JSON.stringify({ names: ["*.nope.test"] }) });
    expect(wild.status).toBe(400);
    expect(((await wild.json()) as { error: { code: string; message: string } }).error).toMatchObject({ code: "wildcard_needs_dns_solver" });
    expect((await plain.admin("/admin/certificates/x/dns-persist")).status).toBe(404);
  });

  it("an IP address is accepted by the admin API and issued over http-01 (Pebble validates against the Worker) with the Worker's profile", async () => {
    const before = ca.requestedProfiles.length;
    const added = await worker.admin("/admin/certificates", { method: "POST", body: JSON.stringify({ names: ["127.0.0.1"] }) });
    expect(added.status).toBe(202);
    const { id } = (await added.json()) as Summary;
    const done = await settled(worker, id);
    expect(done.status).toBe("valid");
    const body = (await (await worker.admin(`/admin/certificates/${id}`)).json()) as { certificate: { chainPem: string } };
    expect(parseCertificate(body.certificate.chainPem).ipAddresses).toEqual(["127.0.0.1"]);
    expect(ca.requestedProfiles.slice(before)).toEqual(["shortlived"]);
  });

  it("a per-certificate profile from the admin API is asked for, shown, and a bad one refused", async () => {
    const bad = await plain.admin("/admin/certificates", { method: "POST", body: JSON.stringify({ names: ["p.plain.test"], profile: "no spaces please" }) });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: { code: string } }).error.code).toBe("invalid_profile");

    // `worker` defaults to shortlived (ACME_PROFILE); this certificate asks for classic.
    const before = ca.requestedProfiles.length;
    const added = await worker.admin("/admin/certificates", { method: "POST", body: JSON.stringify({ names: ["classic.edge.test"], profile: "classic" }) });
    expect(added.status).toBe(202);
    const summary = (await added.json()) as Summary & { profile: string | null };
    expect(summary.profile).toBe("classic");
    // No _validation-persist record for it: http-01 (against the Worker) is used instead, with no failed validation.
    const done = await settled(worker, summary.id);
    expect(done.status).toBe("valid");
    expect(ca.requestedProfiles.slice(before)).toEqual(["classic"]);
    // A forced renewal asks for the same profile again.
    expect((await worker.admin(`/admin/certificates/${summary.id}/renew`, { method: "POST" })).status).toBe(200);
    expect(ca.requestedProfiles.slice(before)).toEqual(["classic", "classic"]);
    // An unoffered profile: the failure names the offered ones.
    const unoffered = await worker.admin("/admin/certificates", { method: "POST", body: JSON.stringify({ names: ["u.edge.test"], profile: "longlived" }) });
    const failed = await settled(worker, ((await unoffered.json()) as Summary).id);
    expect(failed.status).toBe("failed");
    expect(failed.lastError).toMatch(/does not offer the profile "longlived"; it offers: classic, shortlived/);
  });
});
