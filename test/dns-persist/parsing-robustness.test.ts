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

describe("account URI substitution (§3.1, §7.2.3)", () => {
  it("a challenge naming another accounturi than the account URL is logged for review, and its value used", async () => {
    const events: Array<{ level: string; event: string; fields?: Record<string, unknown> }> = [];
    const logger = { log: (level: string, event: string, fields?: Record<string, unknown>) => events.push({ level, event, ...(fields ? { fields } : {}) }) };
    const challenge = { type: "dns-persist-01", url: "https://ca.example/chal/3", status: "pending", accounturi: "https://ca.example/alt/opaque-7", "issuer-domain-names": ["ca.example"] };
    const authz = asAuthorization({ identifier: { type: "dns", value: "example.com" }, status: "pending", challenges: [challenge] }, "https://ca.example/authz/1");
    const ctx = { identifier: authz.identifier, wildcard: false, authorization: authz, keyAuthorization: "", signal: new AbortController().signal, logger };
    await new DnsPersist01Solver({ resolver: false, accountUrl: "https://ca.example/acct/1" }).present(authz.challenges[0]!, ctx);
    expect(events).toEqual([
      { level: "warn", event: "dns_persist.account_uri_substituted", fields: { accountUrl: "https://ca.example/acct/1", challengeAccountUri: "https://ca.example/alt/opaque-7", name: "example.com" } },
    ]);
    events.length = 0;
    await new DnsPersist01Solver({ resolver: false, accountUrl: "https://ca.example/alt/opaque-7" }).present(authz.challenges[0]!, ctx);
    expect(events).toEqual([]);
  });
});
