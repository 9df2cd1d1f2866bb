import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseCertificate } from "../../src/index.ts";
import { startCloudflareApiServer, type CloudflareApiServer } from "../support/cloudflare-api-server.ts";
import { startDohServer, type DohServer } from "../support/doh-server.ts";
import { startPebble, type PebbleInstance } from "../support/pebble.ts";
import { certificateSerial, settled, startWorker, type WorkerInstance } from "../support/worker.ts";

// dns-01 in the Worker (issue 12): CLOUDFLARE_API_TOKEN turns on the Cloudflare DNS solver. The
// Cloudflare API is the spec-following stand-in (test/support/cloudflare-api-server.ts) mirroring its TXT
// records into challtestsrv, which Pebble queries; the Worker checks propagation over DoH (a local
// RFC 8484 endpoint in front of challtestsrv). The Worker listens where Pebble's http-01 cannot reach it.
const TOKEN = "cf-worker-token-0123456789abcdef";
let pebble: PebbleInstance;
let doh: DohServer;
let api: CloudflareApiServer;
let worker: WorkerInstance;
let plain: WorkerInstance;
/** Paths of the requests `worker` sent to Pebble: which challenges it answered. */
const toCa: string[] = [];

beforeAll(async () => {
  pebble = await startPebble();
  doh = await startDohServer(pebble.dnsPort);
  api = await startCloudflareApiServer({
    tokens: [{ token: TOKEN }],
    zones: [{ name: "cfw.test" }],
    onTxtChange: async (name, contents) => {
      await pebble.clearTxt(name);
      for (const content of contents) await pebble.setTxt(name, content);
    },
  });
  const ca = new URL(pebble.directoryUrl).origin;
  worker = await startWorker(pebble, {
    port: 0,
    vars: { CLOUDFLARE_API_TOKEN: TOKEN, CLOUDFLARE_API_BASE_URL: api.url, DNS_PROPAGATION_RESOLVERS: doh.url },
    // Seen, not answered: every request still goes to Pebble.
    outbound: (request) => {
      const url = new URL(request.url);
      if (url.origin === ca) toCa.push(url.pathname);
      return undefined;
    },
  });
  plain = await startWorker(pebble, { port: 0 });
});
afterAll(async () => {
  await plain?.stop();
  await worker?.stop();
  await api?.close();
  await doh?.close();
  await pebble?.stop();
});

const post = (w: WorkerInstance, body: unknown) => w.admin("/admin/certificates", { method: "POST", body: JSON.stringify(body) });

describe("Worker dns-01 through the Cloudflare API", () => {
  it("issues a wildcard and its apex over dns-01, checked over DoH, and cleans its records up", async () => {
    const res = await post(worker, { names: ["*.cfw.test", "cfw.test"] });
    expect(res.status).toBe(202);
    const done = await settled(worker, ((await res.json()) as { id: string }).id);
    expect(done.status, done.lastError ?? "").toBe("valid");
    const body = (await (await worker.admin(`/admin/certificates/${done.id}`)).json()) as { certificate: { chainPem: string } };
    expect(parseCertificate(body.certificate.chainPem).dnsNames.sort()).toEqual(["*.cfw.test", "cfw.test"]);
    expect(api.requests.filter((r) => r.method === "POST" && r.status === 200).length).toBeGreaterThanOrEqual(2);
    expect(api.records("cfw.test")).toEqual([]);
    expect(doh.requests.some((r) => r.status === 200)).toBe(true);
  });

  it('"challenge": "dns-01" issues a name whose http-01 cannot reach the Worker, and renews the same way', async () => {
    const res = await post(worker, { names: ["unreachable.cfw.test"], challenge: "dns-01" });
    expect(res.status).toBe(202);
    const added = (await res.json()) as { id: string; challenge: string | null };
    expect(added.challenge).toBe("dns-01");
    expect((await settled(worker, added.id)).status).toBe("valid");
    // A forced renewal replaces the certificate and answers what the CA asks over dns-01, through the
    // API. The CA may give the new order the account's still-valid authorization and ask nothing
    // (RFC 8555 §7.1.3, §7.4): Pebble 2.4 does so one time in 100 even at PEBBLE_AUTHZREUSE=0 (it
    // reuses unless rand.Intn(100) > the percentage), and such a renewal publishes no record. So it
    // renews again until the CA asks (5 at most: all 5 reused is one chance in 10^10).
    let serial = await certificateSerial(worker, added.id);
    let asked = 0;
    const reused: number[] = [];
    for (let renewal = 1; renewal <= 5 && asked === 0; renewal++) {
      const [apiBefore, caBefore] = [api.requests.length, toCa.length];
      expect((await worker.admin(`/admin/certificates/${added.id}/renew`, { method: "POST" })).status).toBe(200);
      const renewed = await certificateSerial(worker, added.id);
      expect(renewed, `renewal ${renewal} replaces certificate ${serial}`).not.toBe(serial);
      serial = renewed;
      asked = new Set(toCa.slice(caBefore).filter((path) => path.startsWith("/chalZ/"))).size;
      const published = api.requests.slice(apiBefore).filter((r) => r.method === "POST" && r.path.endsWith("/dns_records") && r.status === 200).length;
      expect(published, `renewal ${renewal}: a TXT record through the API for each challenge answered`).toBe(asked);
      if (asked === 0) reused.push(renewal);
    }
    if (reused.length > 0) console.log(`dns-01 renewal: the CA reused the valid authorization on renewal(s) ${reused.join(", ")}`);
    expect(asked, "the CA asked for a challenge on one of 5 renewals").toBe(1);
  });

  it("without a DNS solver a wildcard is a 400 naming what to configure; a challenge type must be one the Worker has", async () => {
    const cases: Array<[WorkerInstance, unknown, string]> = [
      [plain, { names: ["*.nope.test"] }, "wildcard_needs_dns_solver"],
      [plain, { names: ["a.nope.test"], challenge: "dns-01" }, "challenge_not_configured"],
      [plain, { names: ["a.nope.test"], challenge: "dns-persist-01" }, "challenge_not_configured"],
      [worker, { names: ["*.cfw.test"], challenge: "http-01" }, "invalid_challenge"],
      [worker, { names: ["a.cfw.test"], challenge: "tls-alpn-01" }, "invalid_challenge"],
      [worker, { names: ["a.cfw.test"], challenge: 1 }, "invalid_challenge"],
    ];
    for (const [w, body, code] of cases) {
      const res = await post(w, body);
      expect(res.status, JSON.stringify(body)).toBe(400);
      const error = ((await res.json()) as { error: { code: string; message: string } }).error;
      expect(error.code).toBe(code);
      if (code === "wildcard_needs_dns_solver") expect(error.message).toContain("CLOUDFLARE_API_TOKEN");
    }
    expect(await (await plain.index()).count()).toBe(0);
  });
});
