import { describe, expect, it } from "vitest";
import { chooseChain, describeChain } from "../../src/acme/issuance/chain.ts";
import { certify, party } from "../support/x509-chains.ts";

// preferredChain (issue 11 point 9): the name is matched against the issuer of each offered chain's
// topmost certificate — the root the chain leads to (RFC 8555 §7.4.2 offers alternates by Link
// rel="alternate"; which to keep is the client's choice). Pebble cannot issue cross-signed chains, so
// these are real certificates built here in Let's Encrypt's 2021 shape: "ISRG Root X1" self-signed and
// cross-signed by "DST Root CA X3", "R3" under ISRG Root X1, the leaf under R3.
describe("preferredChain picks by the topmost issuer", () => {
  async function offered() {
    const dst = await party("DST Root CA X3");
    const x1 = await party("ISRG Root X1");
    const r3 = await party("R3");
    const leaf = await party("www.example.test");
    const leafPem = await certify(leaf, r3);
    const r3Pem = await certify(r3, x1);
    const x1CrossPem = await certify(x1, dst);
    // The CA's default leads to DST Root CA X3 through the cross-signed X1; the alternate ends at X1.
    const viaCross = describeChain({ pem: leafPem + r3Pem + x1CrossPem, url: "https://ca.test/cert/1", alternateUrls: ["https://ca.test/cert/1/1"] });
    const short = describeChain({ pem: leafPem + r3Pem, url: "https://ca.test/cert/1/1", alternateUrls: [] });
    return { viaCross, short, chains: [viaCross, short] };
  }

  it('preferring "ISRG Root X1" picks the chain that ends at it, not the cross-signed default that passes through it', async () => {
    const { short, chains } = await offered();
    expect(chooseChain(chains, "ISRG Root X1").url).toBe(short.url);
    expect(chooseChain(chains, { issuerCommonName: "ISRG Root X1" }).url).toBe(short.url);
  });

  it('preferring "DST Root CA X3" picks the cross-signed chain; an unknown root or none keeps the default', async () => {
    const { viaCross, chains } = await offered();
    expect(chooseChain(chains, "DST Root CA X3").url).toBe(viaCross.url);
    expect(chooseChain(chains, "No Such Root").url).toBe(viaCross.url);
    expect(chooseChain(chains, undefined).url).toBe(viaCross.url);
    expect(chooseChain([...chains].reverse(), "DST Root CA X3").url).toBe(viaCross.url);
  });
});
