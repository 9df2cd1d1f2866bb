import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AcmeClient, AcmeProblem, generateKeyPair, jwkThumbprint } from "../../src/index.ts";
import { EdgecertError } from "../../src/errors.ts";
import { startPebble, type PebbleInstance } from "../support/pebble.ts";
import { countingFetch } from "../support/request-counter.ts";

let pebble: PebbleInstance;
let eabPebble: PebbleInstance;
const EAB_KID = "kid-edgecert";
const EAB_KEY = "zWNDZM6eQGHWpSRTPal5eIUYFTu7EajVIoguysqZ9wG44nMEtx3MUAsUDkMTQ12W";

beforeAll(async () => {
  [pebble, eabPebble] = await Promise.all([startPebble(), startPebble({ eab: { [EAB_KID]: EAB_KEY } })]);
});
afterAll(async () => {
  await Promise.all([pebble?.stop(), eabPebble?.stop()]);
});

function client(p: PebbleInstance, accountKey: CryptoKeyPair, fetchFn: typeof fetch = p.fetch): AcmeClient {
  return new AcmeClient({ directoryUrl: p.directoryUrl, accountKey, fetch: fetchFn });
}

describe("account lifecycle against Pebble", () => {
  it("creates, finds, updates, rolls over and deactivates an account", async () => {
    const key = await generateKeyPair("ES256");
    const counter = countingFetch(pebble.fetch);
    const acme = client(pebble, key, counter.fetch);

    // Lookup before creation: the CA says the account does not exist (RFC 8555 §7.3.1).
    const missing = await acme.findAccount().catch((e: unknown) => e);
    expect(missing).toBeInstanceOf(AcmeProblem);
    expect((missing as AcmeProblem).kind).toBe("accountDoesNotExist");

    const created = await acme.newAccount({ contact: ["mailto:ops@example.test"], termsOfServiceAgreed: true });
    expect(created.status).toBe("valid");
    expect(created.contact).toEqual(["mailto:ops@example.test"]);
    expect(acme.accountUrl).toBe(created.url);

    // Same key again: the existing account comes back, from a fresh client too.
    const again = client(pebble, key);
    expect((await again.findAccount()).url).toBe(created.url);
    expect((await again.newAccount({ termsOfServiceAgreed: true })).url).toBe(created.url);

    const updated = await acme.updateAccount({ contact: ["mailto:new@example.test"] });
    expect(updated.contact).toEqual(["mailto:new@example.test"]);

    // Key rollover: the old key no longer finds the account, the new one does (RFC 8555 §7.3.5).
    const newKey = await generateKeyPair("ES384");
    await acme.rolloverAccountKey(newKey);
    expect(await acme.thumbprint()).toBe(await jwkThumbprint(newKey.publicKey));
    expect((await client(pebble, newKey).findAccount()).url).toBe(created.url);
    const old = await client(pebble, key).findAccount().catch((e: unknown) => e);
    expect((old as AcmeProblem).kind).toBe("accountDoesNotExist");
    // The rolled-over client keeps working.
    expect((await acme.updateAccount({ contact: ["mailto:third@example.test"] })).contact).toEqual(["mailto:third@example.test"]);

    const deactivated = await acme.deactivateAccount();
    expect(deactivated.status).toBe("deactivated");
    const after = await acme.newOrder({ identifiers: ["after.example.test"] }).catch((e: unknown) => e);
    expect(after).toBeInstanceOf(AcmeProblem);
    expect((after as AcmeProblem).status).toBe(403);

    // One newNonce request in the whole session: every other nonce came from a response.
    expect(counter.nonceRequests()).toBe(1);
  });

  it("requires External Account Binding when the CA does, and accepts a valid one", async () => {
    const key = await generateKeyPair("ES256");
    const acme = client(eabPebble, key);
    const refused = await acme.newAccount({ termsOfServiceAgreed: true }).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(EdgecertError);
    expect((refused as EdgecertError).code).toBe("invalid_input");
    expect((refused as Error).message).toMatch(/External Account Binding/);

    const wrong = await acme
      .newAccount({ termsOfServiceAgreed: true, externalAccountBinding: { kid: EAB_KID, hmacKey: "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" } })
      .catch((e: unknown) => e);
    expect(wrong).toBeInstanceOf(AcmeProblem);

    const account = await acme.newAccount({ termsOfServiceAgreed: true, externalAccountBinding: { kid: EAB_KID, hmacKey: EAB_KEY } });
    expect(account.status).toBe("valid");
  });
});
