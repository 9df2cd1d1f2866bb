import { describe, expect, it } from "vitest";
import { asAuthorization } from "../../src/acme/resources.ts";
import { dnsPersistPreference, DnsPersist01Solver } from "../../src/acme/dns-persist/index.ts";
import { silentLogger } from "../../src/logger.ts";

const usual = [
  { type: "http-01", url: "https://ca.example/chal/1", status: "pending", token: "tok1" },
  { type: "dns-01", url: "https://ca.example/chal/2", status: "pending", token: "tok2" },
];

describe("unknown or malformed challenges never break an authorization", () => {
  it("keeps the usable challenges and drops entries that are not challenge objects", () => {
    const authz = asAuthorization(
      {
        identifier: { type: "dns", value: "example.com" },
        status: "pending",
        challenges: [
          { type: "made-up-07", url: "https://ca.example/chal/9", status: "pending", token: { nested: [1, 2] }, extra: true },
          null,
          42,
          ["x"],
          { type: 7, url: "https://ca.example/chal/8", status: "pending" },
          { type: "future-01" },
          ...usual,
          { type: "dns-persist-01", url: "https://ca.example/chal/3", status: "pending", accounturi: "https://ca.example/acct/1", "issuer-domain-names": [] },
        ],
      },
      "https://ca.example/authz/1",
    );
    expect(authz.challenges.map((c) => c.type)).toEqual(["made-up-07", "http-01", "dns-01", "dns-persist-01"]);
  });

  it("a malformed dns-persist-01 challenge (empty issuer-domain-names) makes it unavailable, not an error", async () => {
    const authz = asAuthorization(
      {
        identifier: { type: "dns", value: "example.com" },
        status: "pending",
        challenges: [...usual, { type: "dns-persist-01", url: "https://ca.example/chal/3", status: "pending", accounturi: "https://ca.example/acct/1", "issuer-domain-names": [] }],
      },
      "https://ca.example/authz/1",
    );
    const ctx = { identifier: authz.identifier, wildcard: false, authorization: authz, signal: new AbortController().signal, logger: silentLogger };
    expect(await dnsPersistPreference(authz, new DnsPersist01Solver({ resolver: false }), ctx)).toBe("unavailable");
    expect(await dnsPersistPreference(authz, undefined, ctx)).toBe("unavailable");
  });
});
