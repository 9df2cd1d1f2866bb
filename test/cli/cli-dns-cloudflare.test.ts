import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startCloudflareApiServer, type CloudflareApiServer } from "../support/cloudflare-api-server.ts";
import { startDohServer, type DohServer } from "../support/doh-server.ts";
import { runCli, show, startCliBed, verifyLive, type CliBed } from "./cli-bed.ts";

/**
 * `edgecert issue --dns cloudflare` as a child process: the token from the environment, the records
 * written through a stand-in for Cloudflare's v4 API (test/support/cloudflare-api-server.ts, shaped as
 * Cloudflare documents it; no real account here) that mirrors its TXT records into challtestsrv, which
 * Pebble resolves through, and propagation checked over DoH at `--doh-resolver`.
 */
let bed: CliBed;
let api: CloudflareApiServer;
let doh: DohServer;
const token = "cli-dns-token-0123456789";

beforeAll(async () => {
  bed = await startCliBed();
  doh = await startDohServer(bed.pebble.dnsPort);
  api = await startCloudflareApiServer({
    tokens: [{ token }],
    zones: [{ name: "cfcli.example.test" }],
    onTxtChange: async (name, contents) => {
      await bed.pebble.clearTxt(name);
      for (const content of contents) await bed.pebble.setTxt(name, content);
    },
  });
}, 120_000);

afterAll(async () => {
  await api?.close();
  await doh?.close();
  await bed?.stop();
});

describe("edgecert issue --dns cloudflare", () => {
  it("a wildcard and its apex: records created through the API, checked over DoH, validated by Pebble, then removed", async () => {
    const dir = join(bed.dir, "dns-cloudflare");
    const flags = ["--dir", dir, "--server", bed.proxy.directoryUrl, "--ca-file", bed.caFile];
    const env = { CLOUDFLARE_DNS_API_TOKEN: token, CLOUDFLARE_API_BASE_URL: api.url };
    const run = await runCli(bed, "node", ["issue", "-d", "*.cfcli.example.test", "-d", "cfcli.example.test", "--agree-tos", "--dns", "cloudflare", "--doh-resolver", doh.url, ...flags, "--json"], env, 120_000);
    expect(run.code, show(run)).toBe(0);
    // certbot names a wildcard's lineage with `_wildcard` for the `*`.
    await verifyLive(bed, join(dir, "live", "_wildcard.cfcli.example.test"));
    // Wildcard and apex share _acme-challenge.cfcli.example.test: two values at one name, both removed.
    expect(api.requests.filter((r) => r.method === "POST" && r.status === 200)).toHaveLength(2);
    expect(api.requests.filter((r) => r.method === "DELETE" && r.status === 200)).toHaveLength(2);
    expect(api.records("cfcli.example.test")).toEqual([]);
    expect(doh.requests.some((r) => r.status === 200)).toBe(true);
    console.log(`[cli] --dns cloudflare, wildcard + apex: ${run.requests} CA requests, ${api.requests.length} API requests, ${doh.requests.length} DoH queries`);
  }, 180_000);

  it("without a token: exit 2 naming the variables, before any request", async () => {
    const run = await runCli(bed, "node", ["issue", "-d", "notoken.cfcli.example.test", "--agree-tos", "--dns", "cloudflare", "--dir", join(bed.dir, "dns-notoken"), "--server", bed.proxy.directoryUrl, "--ca-file", bed.caFile]);
    expect(run.code, show(run)).toBe(2);
    expect(run.stderr).toContain("CLOUDFLARE_DNS_API_TOKEN");
    expect(run.requests).toBe(0);
  });
});
