import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseCertificate } from "../../src/index.ts";
import { startCloudflareApiServer, type CloudflareApiServer } from "../support/cloudflare-api-server.ts";
import { startDohServer, type DohServer } from "../support/doh-server.ts";
import { startPebble, type PebbleInstance } from "../support/pebble.ts";
import { settled, startWorker, type WorkerInstance } from "../support/worker.ts";

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
  worker = await startWorker(pebble, { port: 0, vars: { CLOUDFLARE_API_TOKEN: TOKEN, CLOUDFLARE_API_BASE_URL: api.url, DNS_PROPAGATION_RESOLVERS: doh.url } });
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
    const before = api.requests.length;
    expect((await worker.admin(`/admin/certificates/${added.id}/renew`, { method: "POST" })).status).toBe(200);
    expect(api.requests.slice(before).some((r) => r.method === "POST")).toBe(true);
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
