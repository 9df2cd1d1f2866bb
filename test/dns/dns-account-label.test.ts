import { describe, expect, it } from "vitest";
import { dnsAccount01RecordName } from "../../src/dns/index.ts";

describe("dns-account-01 record names (draft-ietf-acme-dns-account-label)", () => {
  it("matches the draft's example label for https://example.com/acme/acct/ExampleAccount", async () => {
    expect(await dnsAccount01RecordName("https://example.com/acme/acct/ExampleAccount", "example.org")).toBe(
      "_ujmmovf2vn55tgye._acme-challenge.example.org",
    );
  });

  it("validates a wildcard at its base name and gives each account its own label", async () => {
    const a = await dnsAccount01RecordName("https://ca.test/acct/1", "*.example.org");
    const b = await dnsAccount01RecordName("https://ca.test/acct/2", "example.org");
    expect(a).toMatch(/^_[a-z2-7]{16}\._acme-challenge\.example\.org$/);
    expect(b).toMatch(/^_[a-z2-7]{16}\._acme-challenge\.example\.org$/);
    expect(a.split(".")[0]).not.toBe(b.split(".")[0]);
  });
});
