import { Resolver } from "node:dns/promises";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseCertificate } from "../../src/index.ts";
import { startDohServer, type DohServer } from "../support/doh-server.ts";
import { startPersistProxy, type PersistProxy } from "../support/persist-proxy.ts";
import { bedFlags, runCli, show, startCliBed, verifyLive, type CliBed, type CliRun } from "./cli-bed.ts";

/**
 * `edgecert issue --dns-persist --doh-resolver URL` as a child process (dns-persist-01,
 * draft-ietf-acme-dns-persist, experimental). Pebble 2.4 has no dns-persist-01, so the CA is the
 * stand-in of test/support/persist-proxy.ts (written from the draft, independent of edgecert's rules)
 * in front of Pebble, with the bed's counting proxy in front of it: CLI -> counting proxy -> stand-in ->
 * Pebble. The `--ca-file` is the counting proxy's CA, as in the other CLI tests; the stand-in's own
 * TLS is trusted by the counting proxy. The domain owner's records go into challtestsrv, which the
 * stand-in validates against and the DoH server (`--doh-resolver`) answers from.
 */
let bed: CliBed;
let persist: PersistProxy;
let doh: DohServer;
let dns: Resolver;
const ISSUER = "persist.stand-in.test";

beforeAll(async () => {
  bed = await startCliBed({
    upstream: async (pebble) => {
      persist = await startPersistProxy(pebble, { issuerDomainNames: [ISSUER] });
      return { directoryUrl: persist.directoryUrl, caPem: persist.caPem };
    },
  });
  doh = await startDohServer(bed.pebble.dnsPort);
  dns = new Resolver({ timeout: 2_000, tries: 1 });
  dns.setServers([`127.0.0.1:${bed.pebble.dnsPort}`]);
}, 120_000);

afterAll(async () => {
  await doh?.close();
  await bed?.stop();
  await persist?.close();
});

const common = (dir: string) => bedFlags(bed, dir);

/** The records an error line tells the owner to create: `_validation-persist.NAME TXT "VALUE"`, in order. */
function recordsToCreate(line: string): Array<{ name: string; value: string }> {
  return [...line.matchAll(/(_validation-persist\.[a-z0-9.-]+) TXT ("(?:[^"\\]|\\.)*")/g)].map((m) => ({ name: m[1]!, value: JSON.parse(m[2]!) as string }));
}

/** TXT values challtestsrv serves at `name` (what the CA and the DoH resolver see). */
async function txt(name: string): Promise<string[]> {
  try {
    return (await dns.resolveTxt(name)).map((strings) => strings.join(""));
  } catch {
    return []; // NXDOMAIN / NODATA
  }
}

/** The requests `run` sent (the last ones the counting proxy saw); valid only until the next run. */
const requestsOf = (run: CliRun) => bed.proxy.requests.slice(bed.proxy.requests.length - run.requests);

describe("edgecert issue --dns-persist", () => {
  it("a wildcard and its apex: refused before any validation naming the one record to create; once created, issued; renew is a no-op", async () => {
    const dir = join(bed.dir, "persist");
    const names = ["*.persist-cli.test", "persist-cli.test"];
    const args = ["issue", ...names.flatMap((n) => ["-d", n]), "--agree-tos", "--dns-persist", "--doh-resolver", doh.url, ...common(dir), "--json"];

    // 1. No record yet: exit 1, nothing answered at the CA (a failed validation costs rate limit), no DNS written.
    const validationsBefore = persist.validations.length;
    const dohBefore = doh.requests.length;
    // Without --json: the one line a human reads on stderr.
    const refused = await runCli(bed, "node", args.filter((a) => a !== "--json"), {}, 120_000);
    expect(refused.code, show(refused)).toBe(1);
    const error = refused.stderr.split("\n").find((l) => l.startsWith("edgecert: ")) ?? "";
    expect(error, show(refused)).toContain("is missing");
    const records = recordsToCreate(error);
    // One record at the shared Validation Domain Name (§4) covers both: the wildcard needs policy=wildcard
    // (§5.1), and the apex accepts it too. The account URI is mode 3a's account URL (§4.1 item 3).
    expect(records, error).toEqual([
      { name: "_validation-persist.persist-cli.test", value: expect.stringMatching(/^persist\.stand-in\.test; accounturi=https:\/\/127\.0\.0\.1:\d+\/my-account\/\w+; policy=wildcard$/) },
    ]);
    expect(persist.validations.length).toBe(validationsBefore);
    expect(requestsOf(refused).filter((r) => r.method === "POST" && r.path.startsWith("/chalZ/") && r.payload !== undefined)).toEqual([]);
    expect(await txt("_validation-persist.persist-cli.test")).toEqual([]);
    expect(await txt("_acme-challenge.persist-cli.test")).toEqual([]);
    // The check went to --doh-resolver.
    expect(doh.requests.length).toBeGreaterThan(dohBefore);
    // Nothing remembered for renew after a failed first issue.
    expect((await runCli(bed, "node", ["list", ...common(dir), "--json"])).json).toMatchObject({ certificates: [] });

    // 2. The owner creates exactly what the message says, once; the same command then issues.
    for (const r of records) await bed.pebble.setTxt(r.name, r.value);
    const issued = await runCli(bed, "node", args, {}, 120_000);
    expect(issued.code, show(issued)).toBe(0);
    expect(issued.json).toMatchObject({ ok: true, obtained: true, name: "_wildcard.persist-cli.test" });
    const live = join(dir, "live", "_wildcard.persist-cli.test");
    await verifyLive(bed, live);
    expect(parseCertificate(await readFile(join(live, "cert.pem"), "utf8")).dnsNames.sort()).toEqual(names.slice().sort());
    // The stand-in validated both authorizations with dns-persist-01 for the account the message named.
    const done = persist.validations.slice(validationsBefore);
    expect(done.map((v) => [v.identifier, v.wildcard, v.ok]).sort()).toEqual([["persist-cli.test", false, true], ["persist-cli.test", true, true]]);
    const accountUri = /accounturi=(\S+);/.exec(records[0]!.value)![1];
    expect(done.every((v) => v.accountUri === accountUri)).toBe(true);
    // The record is left alone: it persists by design (draft §1).
    expect(await txt("_validation-persist.persist-cli.test")).toEqual([records[0]!.value]);
    // Same budget as the library's (test/dns-persist/issuance.test.ts): 2N + 8 for N = 2 names.
    // One answer per authorization (RFC 8555 §7.5.1), and the library's budget (test/dns-persist/issuance.test.ts,
    // 2N + 8 for N = 2 names, one newNonce included) for the rest. On top come the manager's ARI look-up after
    // issuance (RFC 9773 §4) and, when the client measured the three-hop chain as a far CA (AcmeClientOptions
    // parallelNonces "auto", a timing matter on a loaded machine), extra newNonce requests sent in parallel.
    const issuedRequests = requestsOf(issued);
    expect(issuedRequests.filter((r) => r.method === "POST" && r.path.startsWith("/chalZ/") && r.payload !== undefined)).toHaveLength(2);
    const ari = issuedRequests.filter((r) => r.path.startsWith("/renewal-info/")).length;
    const nonces = issuedRequests.filter((r) => r.path.startsWith("/nonce-plz")).length;
    expect(issued.requests - ari - Math.max(0, nonces - 1), issuedRequests.map((r) => `${r.method} ${r.path}`).join("\n")).toBeLessThanOrEqual(2 * 2 + 8);

    // 3. renew right after: nothing due and the CA's Retry-After has not passed, so not one request.
    const dohAfterIssue = doh.requests.length;
    const renew = await runCli(bed, "node", ["renew", ...common(dir), "--json"]);
    expect(renew.code, show(renew)).toBe(0);
    expect(renew.requests).toBe(0);
    expect(renew.json).toMatchObject({ ok: true, certificates: [{ name: "_wildcard.persist-cli.test", status: "not-due" }] });
    expect(doh.requests.length).toBe(dohAfterIssue);
    expect(persist.validations.length).toBe(validationsBefore + 2);
    console.log(
      `[cli] --dns-persist, wildcard + apex: refused (exit ${refused.code}) after ${refused.requests} CA requests; issued (exit ${issued.code}) with ${issued.requests} CA requests (${ari} ARI, ${nonces} newNonce), ` +
        `${done.length} validations, ${doh.requests.length - dohBefore} DoH queries in all; renew (exit ${renew.code}): ${renew.requests} requests`,
    );
  }, 240_000);

  it("two base names: the refusal names both records at once, so one round of DNS changes is enough", async () => {
    const dir = join(bed.dir, "persist-two");
    const names = ["one.persist-pair.test", "two.persist-other.test"];
    const args = ["issue", ...names.flatMap((n) => ["-d", n]), "--agree-tos", "--dns-persist", "--doh-resolver", doh.url, ...common(dir), "--json"];
    const before = persist.validations.length;
    const refused = await runCli(bed, "node", args, {}, 120_000);
    expect(refused.code, show(refused)).toBe(1);
    const records = recordsToCreate(String(refused.json?.error));
    expect(records.map((r) => r.name).sort(), show(refused)).toEqual(["_validation-persist.one.persist-pair.test", "_validation-persist.two.persist-other.test"]);
    expect(persist.validations.length).toBe(before);
    for (const r of records) await bed.pebble.setTxt(r.name, r.value);
    const issued = await runCli(bed, "node", args, {}, 120_000);
    expect(issued.code, show(issued)).toBe(0);
    await verifyLive(bed, join(dir, "live", "one.persist-pair.test"));
    expect(persist.validations.slice(before).map((v) => [v.identifier, v.ok]).sort()).toEqual([["one.persist-pair.test", true], ["two.persist-other.test", true]]);
  }, 240_000);
});
