import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  AcmeClient,
  DnsPersist01Solver,
  DnsPersistRecordsNotReadyError,
  Http01Solver,
  IssuanceError,
  dnsPersistRecordsFor,
  generateKeyPair,
  obtainCertificate,
  parseCertificate,
  type Solver,
} from "../../src/index.ts";
import { serveHttp01, type Http01Server } from "../support/challenge-servers.ts";
import { startDohServer, type DohServer } from "../support/doh-server.ts";
import { startPebble, type PebbleInstance } from "../support/pebble.ts";
import { startPersistProxy, type PersistProxy } from "../support/persist-proxy.ts";
import { countingFetch } from "../support/request-counter.ts";

// Pebble 2.4 has no dns-persist-01: the stand-in in test/support/persist-proxy.ts adds it and performs the
// draft's validation against challtestsrv's DNS before completing Pebble's authorization.
let pebble: PebbleInstance;
let doh: DohServer;
let ca: PersistProxy;
let http: Http01Server;
const http01 = new Http01Solver();
const ISSUER = "persist.stand-in.test";

beforeAll(async () => {
  pebble = await startPebble();
  doh = await startDohServer(pebble.dnsPort);
  ca = await startPersistProxy(pebble, { issuerDomainNames: [ISSUER, "ca2.stand-in.test"] });
  http = await serveHttp01(pebble.httpPort, http01);
});
afterAll(async () => {
  await http?.close();
  await ca?.close();
  await doh?.close();
  await pebble?.stop();
});

async function newClient(proxy: PersistProxy = ca): Promise<AcmeClient> {
  const client = new AcmeClient({ directoryUrl: proxy.directoryUrl, accountKey: await generateKeyPair("ES256"), fetch: proxy.fetch });
  await client.newAccount({ termsOfServiceAgreed: true });
  return client;
}

/** Publishes records as the domain owner would, once (the client never writes DNS). */
async function publish(names: string[], accountUri: string, extra: { persistUntil?: number } = {}): Promise<void> {
  for (const r of dnsPersistRecordsFor({ names, accountUri, issuerDomainName: ISSUER, ...extra })) await pebble.setTxt(r.name, r.value);
}

const persistSolver = (options: ConstructorParameters<typeof DnsPersist01Solver>[0] = {}) =>
  new DnsPersist01Solver({ resolver: doh.url, fetch: ca.fetch, ...options });

/** The validation failure edgecert reports, or "issued". */
async function outcome(client: AcmeClient, names: string[], solvers: Record<string, Solver>): Promise<string> {
  try {
    await obtainCertificate({ termsOfServiceAgreed: true, client, names, solvers, maxAttempts: 1 });
    return "issued";
  } catch (err) {
    if (!(err instanceof IssuanceError)) throw err;
    return `${err.step}:${err.problem?.kind ?? err.code}`;
  }
}

describe("dns-persist-01 through the stand-in CA (wildcard + apex, no DNS token)", () => {
  it("issues *.name + name from one pre-provisioned record; the client writes no DNS", async () => {
    const client = await newClient();
    const dir = await client.directory();
    // Pre-provisioning (§4.5): account URL + an issuer name from caaIdentities.
    expect(dir.meta?.caaIdentities).toContain(ISSUER);
    await publish(["*.wild.test", "wild.test"], client.accountUrl!);
    const before = ca.validations.length;
    const cert = await obtainCertificate({ termsOfServiceAgreed: true, client, names: ["*.wild.test", "wild.test"], solvers: { "dns-persist-01": persistSolver() } });
    expect(parseCertificate(cert.certificatePem).dnsNames.sort()).toEqual(["*.wild.test", "wild.test"]);
    const done = ca.validations.slice(before);
    expect(done.map((v) => [v.identifier, v.wildcard, v.ok]).sort()).toEqual([["wild.test", false, true], ["wild.test", true, true]]);
    expect(done.every((v) => v.accountUri === client.accountUrl)).toBe(true);
  });

  it("keeps the request budget: a wildcard + apex with a new account takes at most 2N + 8 requests to the CA", async () => {
    const counter = countingFetch(ca.fetch);
    // Near the CA whatever a loaded machine's round trips measure (far from it, the client spends a newNonce per parallel lane).
    const client = new AcmeClient({ directoryUrl: ca.directoryUrl, accountKey: await generateKeyPair("ES256"), fetch: counter.fetch, parallelNonces: "never" });
    await client.newAccount({ termsOfServiceAgreed: true });
    await publish(["*.budget.test", "budget.test"], client.accountUrl!);
    // DoH checks go to the resolver, not the CA.
    await obtainCertificate({ termsOfServiceAgreed: true, client, names: ["*.budget.test", "budget.test"], solvers: { "dns-persist-01": persistSolver() } });
    console.log(`dns-persist-01 requests for 2 names: ${counter.count()} (budget 12)`);
    expect(counter.count()).toBeLessThanOrEqual(2 * 2 + 8);
  });

  it("prefers dns-persist-01 when its record is in place and falls back to http-01 when it is not, without a failed validation", async () => {
    const client = await newClient();
    await publish(["ready.test"], client.accountUrl!);
    const before = ca.validations.length;
    const solvers = { "dns-persist-01": persistSolver(), "http-01": http01 };
    await obtainCertificate({ termsOfServiceAgreed: true, client, names: ["ready.test", "not-ready.test"], solvers });
    // Only ready.test went through dns-persist-01; not-ready.test used http-01 and nothing failed.
    expect(ca.validations.slice(before).map((v) => [v.identifier, v.ok])).toEqual([["ready.test", true]]);
  });

  it("refuses before answering the CA when the record is missing or wrong, naming the record to create", async () => {
    const client = await newClient();
    await pebble.setTxt("_validation-persist.early.test", `${ISSUER}; accounturi=https://someone-else.example/acct/1; policy=wildcard`);
    const before = ca.validations.length;
    const err = await obtainCertificate({ termsOfServiceAgreed: true, client, names: ["*.early.test"], solvers: { "dns-persist-01": persistSolver() } }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(IssuanceError);
    expect((err as IssuanceError).step).toBe("present");
    const cause = (err as IssuanceError).cause;
    expect(cause).toBeInstanceOf(DnsPersistRecordsNotReadyError);
    expect((cause as DnsPersistRecordsNotReadyError).report.status).toBe("wrong");
    expect((err as Error).message).toContain(`_validation-persist.early.test TXT "${ISSUER}; accounturi=${client.accountUrl}; policy=wildcard"`);
    // No validation was attempted (rate limit untouched).
    expect(ca.validations.length).toBe(before);
  });
});

describe("the stand-in validates each draft rule (client answers without checking, so the CA decides)", () => {
  // resolver: false — edgecert answers the challenge without its own check, so each rule is enforced by the CA.
  const unchecked = () => ({ "dns-persist-01": new DnsPersist01Solver({ resolver: false }) });

  it("rule §4.1 item 3: an accounturi of another account is unauthorized; Simple String Comparison (no case folding)", async () => {
    const client = await newClient();
    const other = await newClient();
    await pebble.setTxt("_validation-persist.acct.test", `${ISSUER}; accounturi=${other.accountUrl}`);
    expect(await outcome(client, ["acct.test"], unchecked())).toBe("validation:unauthorized");
    await pebble.setTxt("_validation-persist.acct-case.test", `${ISSUER}; accounturi=${client.accountUrl!.replace("https://127.0.0.1", "HTTPS://127.0.0.1")}`);
    expect(await outcome(client, ["acct-case.test"], unchecked())).toBe("validation:unauthorized");
  });

  it("rule §5/§6: a wildcard, or a subdomain through its parent's record, needs policy=wildcard", async () => {
    const client = await newClient();
    await pebble.setTxt("_validation-persist.nopolicy.test", `${ISSUER}; accounturi=${client.accountUrl}`);
    expect(await outcome(client, ["*.nopolicy.test"], unchecked())).toBe("validation:unauthorized");
    expect(await outcome(client, ["www.nopolicy.test"], unchecked())).toBe("validation:unauthorized");
    // The same record is fine for the name itself.
    expect(await outcome(client, ["nopolicy.test"], unchecked())).toBe("issued");
    // With policy=wildcard the parent's record covers a subdomain two levels down (§6.1).
    await pebble.setTxt("_validation-persist.parent.test", `${ISSUER}; accounturi=${client.accountUrl}; policy=wildcard`);
    expect(await outcome(client, ["server.dept.parent.test"], unchecked())).toBe("issued");
  });

  it("rule §4.1 item 5: persistUntil in the past is unauthorized, in the future fine, not an integer malformed", async () => {
    const client = await newClient();
    const now = Math.floor(Date.now() / 1000);
    await pebble.setTxt("_validation-persist.expired.test", `${ISSUER}; accounturi=${client.accountUrl}; persistUntil=${now - 60}`);
    expect(await outcome(client, ["expired.test"], unchecked())).toBe("validation:unauthorized");
    await pebble.setTxt("_validation-persist.future.test", `${ISSUER}; accounturi=${client.accountUrl}; persistUntil=${now + 86_400}`);
    expect(await outcome(client, ["future.test"], unchecked())).toBe("issued");
    await pebble.setTxt("_validation-persist.notint.test", `${ISSUER}; accounturi=${client.accountUrl}; persistUntil=0x6000`);
    expect(await outcome(client, ["notint.test"], unchecked())).toBe("validation:malformed");
  });

  it("rule §4.1 item 2 / §7.4: a record for another issuer domain name does not count", async () => {
    const client = await newClient();
    await pebble.setTxt("_validation-persist.issuer.test", `other-ca.example; accounturi=${client.accountUrl}; policy=wildcard`);
    expect(await outcome(client, ["issuer.test"], unchecked())).toBe("validation:unauthorized");
  });

  it("rule §9.3.1: duplicate parameters are malformed", async () => {
    const client = await newClient();
    await pebble.setTxt("_validation-persist.dup.test", `${ISSUER}; accounturi=${client.accountUrl}; accounturi=${client.accountUrl}`);
    expect(await outcome(client, ["dup.test"], unchecked())).toBe("validation:malformed");
  });

  it("case and whitespace rules: issuer name case-folded, policy value case-insensitive, spaces around ';' and '=', unknown tags ignored", async () => {
    const client = await newClient();
    await pebble.setTxt("_validation-persist.spaces.test", `  PERSIST.Stand-In.Test ;\taccounturi = ${client.accountUrl} ;  policy=WildCard ; x-future=1`);
    expect(await outcome(client, ["*.spaces.test", "spaces.test"], unchecked())).toBe("issued");
    // The edgecert checker agrees with the CA on the same record.
    const [report] = await persistSolver().check(
      { type: "dns-persist-01", url: "https://x/", status: "pending", accounturi: client.accountUrl, "issuer-domain-names": [ISSUER] } as never,
      { identifier: { type: "dns", value: "spaces.test" }, wildcard: true, signal: new AbortController().signal, logger: { log() {} } } as never,
    ).then((r) => [r]);
    expect(report!.status).toBe("present");
  });
});

describe("challenge types the client does not know", () => {
  let odd: PersistProxy;
  let malformed: PersistProxy;
  beforeAll(async () => {
    odd = await startPersistProxy(pebble, { issuerDomainNames: [ISSUER], madeUpChallenges: true });
    malformed = await startPersistProxy(pebble, { issuerDomainNames: [ISSUER], challengeIssuerDomainNames: [] });
  });
  afterAll(async () => {
    await odd?.close();
    await malformed?.close();
  });

  it("a CA offering a made-up type (and a malformed entry) beside the usual ones: parsing and selection still work", async () => {
    const client = await newClient(odd);
    await obtainCertificate({ termsOfServiceAgreed: true, client, names: ["odd-http.test"], solvers: { "http-01": http01 } });
    await publish(["*.odd.test"], client.accountUrl!);
    const cert = await obtainCertificate({ termsOfServiceAgreed: true, client, names: ["*.odd.test"], solvers: { "dns-persist-01": persistSolver({ fetch: odd.fetch }), "http-01": http01 } });
    expect(parseCertificate(cert.certificatePem).dnsNames).toEqual(["*.odd.test"]);
  });

  it("a malformed dns-persist-01 challenge (empty issuer-domain-names, §3.1) is rejected: http-01 is used, or a clear error", async () => {
    const client = await newClient(malformed);
    await publish(["bad-chal.test"], client.accountUrl!);
    await obtainCertificate({ termsOfServiceAgreed: true, client, names: ["bad-chal.test"], solvers: { "dns-persist-01": persistSolver({ fetch: malformed.fetch }), "http-01": http01 } });
    const err = await obtainCertificate({ termsOfServiceAgreed: true, client, names: ["bad-chal.test"], solvers: { "dns-persist-01": persistSolver({ fetch: malformed.fetch }) } }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(IssuanceError);
    expect((err as Error).message).toMatch(/no usable solver for bad-chal\.test \(offered: .*dns-persist-01/);
  });
});
