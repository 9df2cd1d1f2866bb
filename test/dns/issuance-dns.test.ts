import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AcmeClient, generateKeyPair, obtainCertificate, parseCertificate } from "../../src/index.ts";
import { CloudflareDnsSolver, challtestsrvDns01Solver } from "../../src/dns/index.ts";
import { startCloudflareApiServer } from "../support/cloudflare-api-server.ts";
import { startDohServer, type DohServer } from "../support/doh-server.ts";
import { startPebble, type PebbleInstance } from "../support/pebble.ts";

let pebble: PebbleInstance;
let doh: DohServer;

beforeAll(async () => {
  pebble = await startPebble();
  doh = await startDohServer(pebble.dnsPort);
});
afterAll(async () => {
  await doh?.close();
  await pebble?.stop();
});

async function newClient(): Promise<AcmeClient> {
  const client = new AcmeClient({ directoryUrl: pebble.directoryUrl, accountKey: await generateKeyPair("ES256"), fetch: pebble.fetch });
  await client.newAccount({ termsOfServiceAgreed: true });
  return client;
}

const fast = { initialDelayMs: 10, maxDelayMs: 100, timeoutMs: 10_000 } as const;

describe("dns-01 issuance from Pebble with DoH propagation checks", () => {
  it.each(["wire", "json"] as const)("a wildcard and its apex via challtestsrv, waiting over DoH (%s)", async (format) => {
    doh.requests.length = 0;
    const solver = challtestsrvDns01Solver(pebble.challtestsrvUrl, fetch, { propagation: { ...fast, format, resolvers: [doh.url] } });
    const names = [`*.wild-${format}.example.test`, `wild-${format}.example.test`];
    const cert = await obtainCertificate({ termsOfServiceAgreed: true, client: await newClient(), names, solvers: { "dns-01": solver } });
    expect(parseCertificate(cert.certificatePem).dnsNames.sort()).toEqual([...names].sort());
    // Both waits really asked the DoH endpoint, in the chosen format.
    expect(doh.requests.filter((r) => r.format === format && r.status === 200).length).toBeGreaterThanOrEqual(2);
  });

  it("CloudflareDnsSolver end to end: the fake Cloudflare API publishes into challtestsrv, Pebble validates", async () => {
    const token = "e2e-token-abcdef";
    const api = await startCloudflareApiServer({
      tokens: [{ token }],
      zones: [{ name: "cf.example.test" }, { name: "sub.cf.example.test" }],
      // The fake API is the authoritative source: mirror each name's TXT set into challtestsrv.
      onTxtChange: async (name, contents) => {
        await pebble.clearTxt(name);
        for (const content of contents) await pebble.setTxt(name, content);
      },
    });
    try {
      const unrelated = await api.addRecord("cf.example.test", { name: "_acme-challenge.cf.example.test", type: "TXT", content: "kept-by-someone-else" });
      doh.requests.length = 0;
      const solver = new CloudflareDnsSolver({ apiToken: token, apiBaseUrl: api.url, propagation: { ...fast, resolvers: [doh.url] } });
      const names = ["*.cf.example.test", "cf.example.test", "deep.sub.cf.example.test"];
      const cert = await obtainCertificate({ termsOfServiceAgreed: true, client: await newClient(), names, solvers: { "dns-01": solver } });

      expect(parseCertificate(cert.certificatePem).dnsNames.sort()).toEqual([...names].sort());
      // Three records created (wildcard + apex share a name), in the right zones, and all three removed.
      const created = api.requests.filter((r) => r.method === "POST");
      expect(created.map((r) => r.status)).toEqual([200, 200, 200]);
      const subZone = api.zones.find((z) => z.name === "sub.cf.example.test")!;
      expect(created.filter((r) => r.path === `/zones/${subZone.id}/dns_records`)).toHaveLength(1);
      expect(api.requests.filter((r) => r.method === "DELETE" && r.status === 200)).toHaveLength(3);
      expect(api.records("cf.example.test")).toEqual([unrelated]);
      expect(api.records("sub.cf.example.test")).toEqual([]);
      expect(doh.requests.some((r) => r.status === 200)).toBe(true);
    } finally {
      await api.close();
    }
  });
});
