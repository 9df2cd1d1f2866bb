import { describe, expect, it } from "vitest";
import {
  AcmeClient,
  AcmeProblem,
  Http01Solver,
  IssuanceError,
  RevocationReason,
  TlsAlpn01Solver,
  certificateMatchesKey,
  dns01Solver,
  generateKeyPair,
  importPrivateKeyPem,
  jwkThumbprint,
  obtainCertificate,
  parseCertificate,
  splitPemChain,
  type Solver,
} from "../../src/index.ts";
import { usePebbleBed } from "../support/pebble-bed.ts";
import { countingFetch } from "../support/request-counter.ts";
import { serveTlsAlpn01 } from "../support/tls-alpn-server.ts";

const bed = usePebbleBed({ alternateRoots: 1 });
const http01 = bed.http01;

async function newClient(fetchFn: typeof fetch = bed.pebble.fetch): Promise<AcmeClient> {
  const client = new AcmeClient({ directoryUrl: bed.pebble.directoryUrl, accountKey: await generateKeyPair("ES256"), fetch: fetchFn });
  await client.newAccount({ termsOfServiceAgreed: true });
  return client;
}

/** dns-01 through pebble-challtestsrv's management API; records every call. */
function challtestsrvDns01(calls: string[] = []): Solver {
  return dns01Solver({
    setTxt: async (name, value) => {
      calls.push(`set ${name}`);
      await bed.pebble.setTxt(name, value);
    },
    removeTxt: async (name) => {
      calls.push(`remove ${name}`);
      await bed.pebble.clearTxt(name);
    },
  });
}


describe("issuance against Pebble", () => {
  it("3 DNS names + 1 IP over http-01, with a key that matches and alternate chains", async () => {
    const client = await newClient();
    const names = ["a.example.test", "b.example.test", "c.example.test", "127.0.0.1"];
    const cert = await obtainCertificate({ termsOfServiceAgreed: true, client, names, solvers: { "http-01": http01 } });
    const leaf = parseCertificate(cert.certificatePem);
    expect(leaf.dnsNames.sort()).toEqual(["a.example.test", "b.example.test", "c.example.test"]);
    expect(leaf.ipAddresses).toEqual(["127.0.0.1"]);
    expect(await certificateMatchesKey(cert.certificatePem, await importPrivateKeyPem(cert.privateKeyPem!))).toBe(true);
    expect(splitPemChain(cert.chainPem).length).toBeGreaterThanOrEqual(2);
    // PEBBLE_ALTERNATE_ROOTS=1: the default chain and one alternate, to different roots.
    expect(cert.alternates.length).toBe(2);
    expect(new Set(cert.alternates.map((c) => c.issuerCommonName)).size).toBe(2);
    expect(http01.size).toBe(0);
  });

  it("honours preferredChain by issuer common name", async () => {
    const client = await newClient();
    const first = await obtainCertificate({ termsOfServiceAgreed: true, client, names: ["chain.example.test"], solvers: { "http-01": http01 } });
    const wanted = first.alternates[1]!.issuerCommonName!;
    const second = await obtainCertificate({ termsOfServiceAgreed: true, client, names: ["chain.example.test"], solvers: { "http-01": http01 }, preferredChain: wanted });
    expect(second.chainPem).toBe(second.alternates[1]!.chainPem);
  });

  it("3 DNS names over dns-01 (TXT via challtestsrv) and the IP over http-01", async () => {
    const client = await newClient();
    const calls: string[] = [];
    const cert = await obtainCertificate({
      termsOfServiceAgreed: true,
      client,
      names: ["d1.example.test", "d2.example.test", "d3.example.test", "127.0.0.1"],
      solvers: { "dns-01": challtestsrvDns01(calls), "http-01": http01 },
      preferredChallenges: ["dns-01", "http-01"],
    });
    expect(parseCertificate(cert.certificatePem).dnsNames.sort()).toEqual(["d1.example.test", "d2.example.test", "d3.example.test"]);
    expect(calls.filter((c) => c.startsWith("set")).sort()).toEqual([
      "set _acme-challenge.d1.example.test",
      "set _acme-challenge.d2.example.test",
      "set _acme-challenge.d3.example.test",
    ]);
    expect(calls.filter((c) => c.startsWith("remove")).length).toBe(3);
  });

  it("3 DNS names + 1 IP over tls-alpn-01 with our RFC 8737 certificate", async () => {
    const tls = new TlsAlpn01Solver();
    const server = await serveTlsAlpn01(bed.pebble.tlsPort, tls);
    try {
      const client = await newClient();
      const cert = await obtainCertificate({
        termsOfServiceAgreed: true,
        client,
        names: ["t1.example.test", "t2.example.test", "t3.example.test", "127.0.0.1"],
        solvers: { "tls-alpn-01": tls },
      });
      expect(parseCertificate(cert.certificatePem).ipAddresses).toEqual(["127.0.0.1"]);
      expect(server.handshakes).toEqual(expect.arrayContaining(["t1.example.test", "1.0.0.127.in-addr.arpa"]));
    } finally {
      await server.close();
    }
  });

  it("a wildcard and its apex over dns-01", async () => {
    const client = await newClient();
    const cert = await obtainCertificate({ termsOfServiceAgreed: true, client, names: ["*.wild.example.test", "wild.example.test"], solvers: { "dns-01": challtestsrvDns01() } });
    expect(parseCertificate(cert.certificatePem).dnsNames.sort()).toEqual(["*.wild.example.test", "wild.example.test"]);
  });

  it("rejects a wildcard without a dns-01 solver before sending anything", async () => {
    const counter = countingFetch(bed.pebble.fetch);
    const client = new AcmeClient({ directoryUrl: bed.pebble.directoryUrl, accountKey: await generateKeyPair(), fetch: counter.fetch });
    const err = await obtainCertificate({ termsOfServiceAgreed: true, client, names: ["*.x.example.test"], solvers: { "http-01": http01 } }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(IssuanceError);
    expect((err as IssuanceError).step).toBe("validate-input");
    expect((err as IssuanceError).identifier?.value).toBe("*.x.example.test");
    expect(counter.count()).toBe(0);
  });

  it("revokes with the account key and with the certificate key (RFC 8555 §7.6)", async () => {
    const client = await newClient();
    const one = await obtainCertificate({ termsOfServiceAgreed: true, client, names: ["rev1.example.test"], solvers: { "http-01": http01 } });
    await client.revokeCertificate(one.certificatePem, { reason: RevocationReason.keyCompromise });
    const twice = await client.revokeCertificate(one.certificatePem).catch((e: unknown) => e);
    expect((twice as AcmeProblem).kind).toBe("alreadyRevoked");

    const two = await obtainCertificate({ termsOfServiceAgreed: true, client, names: ["rev2.example.test"], solvers: { "http-01": http01 } });
    // Another account that holds the certificate key can revoke it too.
    const stranger = await newClient();
    await stranger.revokeCertificate(two.chainPem, { certificateKey: two.certificateKey!, reason: RevocationReason.superseded });
    const again = await client.revokeCertificate(two.certificatePem).catch((e: unknown) => e);
    expect((again as AcmeProblem).kind).toBe("alreadyRevoked");
    // And one that holds neither is refused.
    const three = await obtainCertificate({ termsOfServiceAgreed: true, client, names: ["rev3.example.test"], solvers: { "http-01": http01 } });
    const refused = await stranger.revokeCertificate(three.certificatePem).catch((e: unknown) => e);
    expect((refused as AcmeProblem).kind).toBe("unauthorized");
  });

  it("drives the plumbing by hand: authorizations, challenges, waits and deactivation", async () => {
    const client = await newClient();
    const order = await client.newOrder({ identifiers: ["manual.example.test", "manual2.example.test"] });
    expect(order.status).toBe("pending");
    const [authz, authz2] = await Promise.all(order.authorizations.map((u) => client.getAuthorization(u)));
    const challenge = authz!.challenges.find((c) => c.type === "http-01")!;
    expect((await client.getChallenge(challenge.url)).token).toBe(challenge.token);
    const keyAuth = await client.keyAuthorization(challenge.token);
    expect(keyAuth).toBe(`${challenge.token}.${await jwkThumbprint(await client.publicJwk())}`);
    await http01.present(challenge, { keyAuthorization: keyAuth } as Parameters<Http01Solver["present"]>[1]);
    await client.acceptChallenge(challenge.url);
    expect((await client.waitAuthorization(authz!.url)).status).toBe("valid");
    await http01.cleanup(challenge);
    const deactivated = await client.deactivateAuthorization(authz2!.url);
    expect(deactivated.status).toBe("deactivated");
    // RFC 8555 leaves this order state open; Pebble says "deactivated", Boulder "invalid".
    expect(["invalid", "deactivated"]).toContain((await client.waitOrder(order.url)).status);
  });
});
