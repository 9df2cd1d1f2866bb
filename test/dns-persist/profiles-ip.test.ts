import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  AcmeClient,
  Http01Solver,
  IssuanceError,
  ProfileMismatchError,
  UnknownProfileError,
  generateKeyPair,
  obtainCertificate,
  offeredProfiles,
  parseCertificate,
} from "../../src/index.ts";
import { serveHttp01, type Http01Server } from "../support/challenge-servers.ts";
import { startPebble, type PebbleInstance } from "../support/pebble.ts";
import { startPersistProxy, type PersistProxy } from "../support/persist-proxy.ts";

// Pebble 2.4 has no profiles: the stand-in (test/support/persist-proxy.ts) lists them in the directory,
// refuses unknown ones with invalidProfile and echoes the requested profile in the order.
const PROFILES = { classic: "https://ca.example/docs#classic", tlsserver: "https://ca.example/docs#tlsserver", shortlived: "https://ca.example/docs#shortlived" };
let pebble: PebbleInstance;
let ca: PersistProxy;
let liar: PersistProxy;
let http: Http01Server;
const http01 = new Http01Solver();

beforeAll(async () => {
  pebble = await startPebble();
  ca = await startPersistProxy(pebble, { profiles: PROFILES });
  liar = await startPersistProxy(pebble, { profiles: PROFILES, echoProfile: () => "classic" });
  http = await serveHttp01(pebble.httpPort, http01);
});
afterAll(async () => {
  await http?.close();
  await liar?.close();
  await ca?.close();
  await pebble?.stop();
});

async function newClient(proxy: PersistProxy | PebbleInstance): Promise<AcmeClient> {
  const client = new AcmeClient({ directoryUrl: proxy.directoryUrl, accountKey: await generateKeyPair("ES256"), fetch: proxy.fetch });
  await client.newAccount({ termsOfServiceAgreed: true });
  return client;
}

describe("certificate profiles (draft-ietf-acme-profiles)", () => {
  it("reads meta.profiles from the directory", async () => {
    const client = await newClient(ca);
    expect(offeredProfiles(await client.directory())).toEqual([
      { name: "classic", description: PROFILES.classic },
      { name: "tlsserver", description: PROFILES.tlsserver },
      { name: "shortlived", description: PROFILES.shortlived },
    ]);
    expect(offeredProfiles(await (await newClient(pebble)).directory())).toEqual([]);
  });

  it("a profile the CA does not offer is a typed error listing the offered ones, before any order is created", async () => {
    const client = await newClient(ca);
    const before = ca.requestedProfiles.length;
    const err = await obtainCertificate({ termsOfServiceAgreed: true, client, names: ["profile-x.test"], profile: "longlived", solvers: { "http-01": http01 } }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(IssuanceError);
    const cause = (err as IssuanceError).cause;
    expect(cause).toBeInstanceOf(UnknownProfileError);
    expect((cause as UnknownProfileError).offered).toEqual(["classic", "tlsserver", "shortlived"]);
    expect((err as Error).message).toContain('does not offer the profile "longlived"; it offers: classic, tlsserver, shortlived');
    expect(ca.requestedProfiles.length).toBe(before);
    // A CA with no profiles at all says so.
    const plain = await obtainCertificate({ termsOfServiceAgreed: true, client: await newClient(pebble), names: ["profile-y.test"], profile: "shortlived", solvers: { "http-01": http01 } }).catch((e: unknown) => e);
    expect((plain as IssuanceError).cause).toBeInstanceOf(UnknownProfileError);
    expect((plain as Error).message).toMatch(/offers no certificate profiles/);
  });

  it("the requested profile is sent and the order's echo is checked", async () => {
    const client = await newClient(ca);
    await obtainCertificate({ termsOfServiceAgreed: true, client, names: ["profile-ok.test"], profile: "tlsserver", solvers: { "http-01": http01 } });
    expect(ca.requestedProfiles.at(-1)).toBe("tlsserver");
    const lied = await obtainCertificate({ termsOfServiceAgreed: true, client: await newClient(liar), names: ["profile-lie.test"], profile: "shortlived", solvers: { "http-01": http01 } }).catch((e: unknown) => e);
    expect(lied).toBeInstanceOf(IssuanceError);
    expect((lied as IssuanceError).cause).toBeInstanceOf(ProfileMismatchError);
    expect((lied as Error).message).toMatch(/asked for the profile "shortlived" but says "classic"/);
  });
});

describe("IP address certificates (RFC 8738) with the shortlived profile", () => {
  it("issues for 127.0.0.1 over http-01 and the certificate carries the IP SAN", async () => {
    const client = await newClient(ca);
    const cert = await obtainCertificate({ termsOfServiceAgreed: true, client, names: ["127.0.0.1"], profile: "shortlived", solvers: { "http-01": http01 } });
    const leaf = parseCertificate(cert.certificatePem);
    expect(leaf.ipAddresses).toEqual(["127.0.0.1"]);
    expect(leaf.dnsNames).toEqual([]);
    expect(ca.requestedProfiles.at(-1)).toBe("shortlived");
  });
});
