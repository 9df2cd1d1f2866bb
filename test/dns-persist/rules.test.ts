import { describe, expect, it } from "vitest";
import {
  DnsPersistError,
  dnsPersistRecordsFor,
  evaluateDnsPersistRecords,
  formatDnsPersistRecord,
  parseDnsPersistChallenge,
  parseDnsPersistRecord,
  splitTxtCharacterStrings,
  validationPersistName,
} from "../../src/acme/dns-persist/index.ts";

const ACCOUNT = "https://ca.example/acct/123";
const challenge = (over: Record<string, unknown> = {}) => ({
  type: "dns-persist-01",
  url: "https://ca.example/acme/authz/1234/0",
  status: "pending",
  accounturi: ACCOUNT,
  "issuer-domain-names": ["authority.example", "ca.example.net"],
  ...over,
});
const expectation = (over: Partial<Parameters<typeof evaluateDnsPersistRecords>[1]> = {}) => ({
  issuerDomainNames: ["authority.example", "ca.example.net"],
  accountUri: ACCOUNT,
  requestedName: "example.com",
  validatedName: "example.com",
  now: Date.UTC(2026, 11, 2),
  ...over,
});

function reasonOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    if (err instanceof DnsPersistError) return err.reason;
    throw err;
  }
  return undefined;
}

describe("dns-persist-01 challenge object (§3.1)", () => {
  it("parses the draft's example", () => {
    expect(parseDnsPersistChallenge(challenge())).toEqual({
      type: "dns-persist-01",
      url: "https://ca.example/acme/authz/1234/0",
      status: "pending",
      accountUri: ACCOUNT,
      issuerDomainNames: ["authority.example", "ca.example.net"],
    });
  });

  it("rejects an empty or an over-long issuer-domain-names array, missing fields and unnormalized names", () => {
    const cases: Array<Record<string, unknown>> = [
      { "issuer-domain-names": [] },
      { "issuer-domain-names": Array.from({ length: 11 }, (_, i) => `ca${i}.example`) },
      { "issuer-domain-names": undefined },
      { "issuer-domain-names": "authority.example" },
      { "issuer-domain-names": ["Authority.Example"] },
      { "issuer-domain-names": ["authority.example."] },
      { "issuer-domain-names": ["bücher.example"] },
      { "issuer-domain-names": [`${"a".repeat(63)}.${"b".repeat(63)}.${"c".repeat(63)}.${"d".repeat(63)}`] },
      { "issuer-domain-names": [42] },
      { accounturi: undefined },
      { accounturi: "" },
      { accounturi: "https://ca.example/acct/1; policy=wildcard" },
      { url: undefined },
    ];
    for (const over of cases) expect(reasonOf(() => parseDnsPersistChallenge(challenge(over))), JSON.stringify(over)).toBe("malformed_challenge");
    // Exactly 10 is allowed.
    expect(parseDnsPersistChallenge(challenge({ "issuer-domain-names": Array.from({ length: 10 }, (_, i) => `ca${i}.example`) })).issuerDomainNames).toHaveLength(10);
    expect(() => parseDnsPersistChallenge(challenge({ "issuer-domain-names": [] }))).toThrow(/issuer-domain-names is empty/);
  });
});

describe("_validation-persist records (§4, §4.1, §9.1)", () => {
  it("builds the draft's example records exactly", () => {
    expect(validationPersistName("*.Example.com")).toBe("_validation-persist.example.com");
    expect(formatDnsPersistRecord({ issuerDomainName: "authority.example", accountUri: ACCOUNT })).toBe(
      "authority.example; accounturi=https://ca.example/acct/123",
    );
    expect(formatDnsPersistRecord({ issuerDomainName: "authority.example", accountUri: ACCOUNT, wildcard: true, persistUntil: 1721952000 })).toBe(
      "authority.example; accounturi=https://ca.example/acct/123; policy=wildcard; persistUntil=1721952000",
    );
    expect(formatDnsPersistRecord({ issuerDomainName: "authority.example", accountUri: ACCOUNT, persistUntil: new Date("2024-07-26T00:00:00Z") })).toMatch(/persistUntil=1721952000$/);
  });

  it("one record per base name for a set of names; policy=wildcard only where a wildcard is asked for", () => {
    const records = dnsPersistRecordsFor({ names: ["*.example.com", "example.com", "api.other.org"], accountUri: ACCOUNT, issuerDomainName: "authority.example" });
    expect(records.map((r) => [r.name, r.value, r.covers])).toEqual([
      ["_validation-persist.example.com", "authority.example; accounturi=https://ca.example/acct/123; policy=wildcard", ["*.example.com", "example.com"]],
      ["_validation-persist.api.other.org", "authority.example; accounturi=https://ca.example/acct/123", ["api.other.org"]],
    ]);
    expect(records[0]!.zoneFileLine).toBe('_validation-persist.example.com. IN TXT "authority.example; accounturi=https://ca.example/acct/123; policy=wildcard"');
    expect(() => dnsPersistRecordsFor({ names: ["192.0.2.1"], accountUri: ACCOUNT, issuerDomainName: "authority.example" })).toThrow(DnsPersistError);
    expect(reasonOf(() => formatDnsPersistRecord({ issuerDomainName: "authority.example", accountUri: "https://x/ y" }))).toBe("invalid_record_input");
  });

  it("splits RDATA longer than 255 octets into character-strings that join back to it", () => {
    const long = formatDnsPersistRecord({ issuerDomainName: "authority.example", accountUri: `https://ca.example/acct/${"9".repeat(400)}` });
    const strings = splitTxtCharacterStrings(long);
    expect(strings.length).toBe(2);
    expect(strings.every((s) => s.length <= 255)).toBe(true);
    expect(strings.join("")).toBe(long);
    const [record] = dnsPersistRecordsFor({ names: ["example.com"], accountUri: `https://ca.example/acct/${"9".repeat(400)}`, issuerDomainName: "authority.example" });
    expect(record!.zoneFileLine).toMatch(/^_validation-persist\.example\.com\. IN TXT "[^"]{255}" "[^"]+"$/);
  });

  it("parses issue-value syntax: whitespace around ';' and '=', unknown tags ignored, tags and the policy value case-insensitive", () => {
    expect(parseDnsPersistRecord("  Authority.Example ;accounturi = https://ca.example/acct/123 ;\tPolicy=WILDCARD; future-tag=1 ")).toEqual({
      issuerDomainName: "authority.example",
      accountUri: ACCOUNT,
      wildcard: true,
    });
    expect(parseDnsPersistRecord("authority.example; accounturi=https://ca.example/acct/123; policy=subdomains").wildcard).toBe(false);
    expect(parseDnsPersistRecord("authority.example;accounturi=https://ca.example/acct/123;persistUntil=1721952000").persistUntil).toBe(1721952000);
    // Issue 25 item 6: `Policy=wildcard` was read as an unknown tag (no policy), so the pre-check refused a
    // wildcard the CA accepts. Every tag matches whatever its case; the accounturi value keeps its case (§4.1).
    expect(parseDnsPersistRecord("authority.example; accounturi=https://ca.example/acct/123; Policy=wildcard").wildcard).toBe(true);
    expect(parseDnsPersistRecord("authority.example; AccountURI=https://ca.example/acct/123; POLICY=Wildcard; PERSISTUNTIL=1721952000")).toEqual({
      issuerDomainName: "authority.example",
      accountUri: ACCOUNT,
      wildcard: true,
      persistUntil: 1721952000,
    });
    expect(parseDnsPersistRecord("authority.example; accounturi=https://CA.example/acct/123").accountUri).toBe("https://CA.example/acct/123");
  });

  it("malformed records: no issuer, no accounturi, duplicate parameters, non-integer persistUntil, bad syntax", () => {
    for (const rdata of [
      "; accounturi=https://ca.example/acct/123",
      "authority.example",
      "authority.example;",
      "authority.example; policy=wildcard",
      "authority.example; accounturi=https://ca.example/acct/123; accounturi=https://ca.example/acct/124",
      "authority.example; accounturi=https://ca.example/acct/123; persistUntil=17219520OO",
      "authority.example; accounturi=https://ca.example/acct/123; persistUntil=-1",
      "authority.example; accounturi=https://ca.example/acct/123; persistUntil=1.5e9",
      "authority.example; accounturi=https://ca.example/acct/123;; policy=wildcard",
      "authority example; accounturi=https://ca.example/acct/123",
      "authority.example; accounturi=https://ca.example/acct/1 23",
      "authority.example; =x; accounturi=https://ca.example/acct/123",
      // A repeated parameter is one whatever the case of its tag (§9.3.1).
      "authority.example; accounturi=https://ca.example/acct/123; Policy=x; policy=wildcard",
      "authority.example; accounturi=https://ca.example/acct/123; policy=wildcard; POLICY=wildcard",
      "authority.example; accounturi=https://ca.example/acct/123; AccountUri=https://ca.example/acct/123",
      "authority.example; accounturi=https://ca.example/acct/123; persistUntil=1; persistuntil=1",
    ]) {
      expect(reasonOf(() => parseDnsPersistRecord(rdata)), rdata).toBe("malformed_record");
    }
  });
});

describe("record evaluation as the CA does it (§4.2, §4.3.2, §5, §6)", () => {
  const ok = "authority.example; accounturi=https://ca.example/acct/123";
  it("accepts a record for one of the issuer names and the account; ignores other issuers' records", () => {
    const verdict = evaluateDnsPersistRecords(["other-ca.example; accounturi=https://other/1", "CA.Example.NET; accounturi=https://ca.example/acct/123"], expectation());
    expect(verdict.ok).toBe(true);
    expect(evaluateDnsPersistRecords(["other-ca.example; accounturi=https://ca.example/acct/123"], expectation())).toEqual({ ok: false, reasons: [] });
  });

  it("account URIs compare by Simple String Comparison (no case folding, no normalization)", () => {
    for (const other of ["https://ca.example/acct/124", "https://CA.example/acct/123", "https://ca.example/acct/123/", "https://ca.example:443/acct/123"]) {
      const v = evaluateDnsPersistRecords([`authority.example; accounturi=${other}`], expectation());
      expect(v.ok, other).toBe(false);
      expect(!v.ok && v.reasons[0]!.problem).toBe("wrong_account");
    }
  });

  it("persistUntil: valid up to and including the second, refused after it", () => {
    const now = Date.UTC(2026, 11, 2);
    const at = (s: number) => evaluateDnsPersistRecords([`${ok}; persistUntil=${s}`], expectation({ now }));
    expect(at(now / 1000).ok).toBe(true);
    expect(at(now / 1000 + 3600).ok).toBe(true);
    const expired = at(now / 1000 - 1);
    expect(!expired.ok && expired.reasons[0]!.problem).toBe("expired");
  });

  it("wildcards and subdomains need policy=wildcard; the validated FQDN must be a proper suffix on a label boundary", () => {
    const wild = `${ok}; policy=wildcard`;
    const check = (rdata: string, requestedName: string, validatedName: string) => evaluateDnsPersistRecords([rdata], expectation({ requestedName, validatedName }));
    expect(check(ok, "example.com", "example.com").ok).toBe(true);
    const noPolicy = check(ok, "*.example.com", "example.com");
    expect(!noPolicy.ok && noPolicy.reasons[0]!.problem).toBe("needs_wildcard_policy");
    expect(check(ok, "www.example.com", "example.com").ok).toBe(false);
    expect(check(`${ok}; policy=other`, "*.example.com", "example.com").ok).toBe(false);
    expect(check(wild, "*.example.com", "example.com").ok).toBe(true);
    expect(check(wild, "example.com", "example.com").ok).toBe(true);
    expect(check(wild, "server.dept.example.com", "example.com").ok).toBe(true);
    expect(check(wild, "*.dept.example.com", "example.com").ok).toBe(true);
    expect(check(wild, "otherexample.com", "example.com").ok).toBe(false);
    expect(check(wild, "example.net", "example.com").ok).toBe(false);
  });

  it("a malformed record for this CA is reported; any one acceptable record suffices", () => {
    const v = evaluateDnsPersistRecords(["authority.example; accounturi=https://ca.example/acct/123; persistUntil=soon"], expectation());
    expect(!v.ok && v.reasons[0]!.problem).toBe("malformed");
    expect(evaluateDnsPersistRecords(["authority.example; accounturi=https://ca.example/acct/999", ok], expectation()).ok).toBe(true);
  });
});
