import { describe, expect, it } from "vitest";
import { EdgecertError } from "../../src/errors.ts";
import { txtValuesAt } from "../../src/dns/doh-query.ts";
import { parseDnsJson } from "../../src/dns/json-format.ts";
import { DNS_TYPE_CNAME, DNS_TYPE_TXT, encodeDnsQuery, parseDnsResponse, type DnsResponse } from "../../src/dns/wire-format.ts";
import { seededRandom } from "../support/seeded-random.ts";

const hex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s.replace(/\s+/g, ""), "hex"));
const ascii = (s: string): number[] => [...Buffer.from(s, "latin1")];
const u16 = (n: number): number[] => [n >> 8, n & 0xff];
const u32 = (n: number): number[] => [...u16(Math.floor(n / 0x10000)), ...u16(n % 0x10000)];
const name = (...labels: string[]): number[] => [...labels.flatMap((l) => [l.length, ...ascii(l)]), 0];
const rr = (owner: number[], type: number, ttl: number, rdata: number[]): number[] => [...owner, ...u16(type), ...u16(1), ...u32(ttl), ...u16(rdata.length), ...rdata];
const txt = (...strings: string[]): number[] => strings.flatMap((s) => [s.length, ...ascii(s)]);
const header = (flags: number, qd: number, an: number): number[] => [0, 0, ...u16(flags), ...u16(qd), ...u16(an), 0, 0, 0, 0];

/** A response for `_acme-challenge.example.com` TXT with compressed owner names and a split TXT record. */
function sampleResponse(): Uint8Array {
  return Uint8Array.from([
    ...header(0x8180, 1, 2),
    ...name("_acme-challenge", "example", "com"),
    ...u16(DNS_TYPE_TXT),
    ...u16(1),
    ...rr([0xc0, 12], DNS_TYPE_TXT, 60, txt("abc", "def")),
    ...rr([0xc0, 12], DNS_TYPE_TXT, 60, txt("second-value")),
  ]);
}

function expectBadResponse(bytes: Uint8Array | number[], why: RegExp): void {
  let thrown: unknown;
  try {
    parseDnsResponse(bytes instanceof Uint8Array ? bytes : Uint8Array.from(bytes));
  } catch (err) {
    thrown = err;
  }
  expect(thrown).toBeInstanceOf(EdgecertError);
  expect((thrown as EdgecertError).code).toBe("bad_response");
  expect((thrown as EdgecertError).message).toMatch(why);
}


describe("DNS query encoding (RFC 1035 §4.1, RFC 8484 §4.1)", () => {
  it("encodes one TXT question with ID 0 and RD, byte for byte", () => {
    const query = encodeDnsQuery("_acme-challenge.example.com", DNS_TYPE_TXT);
    expect(Buffer.from(query).toString("hex")).toBe(
      "0000 0100 0001 0000 0000 0000".replace(/ /g, "") +
        Buffer.from(Uint8Array.from(name("_acme-challenge", "example", "com"))).toString("hex") +
        "0010" +
        "0001",
    );
  });

  it("ignores a trailing dot and sets CD when asked", () => {
    const query = encodeDnsQuery("example.com.", DNS_TYPE_TXT, { checkingDisabled: true });
    expect(query.subarray(0, 4)).toEqual(hex("0000 0110"));
    expect(query.length).toBe(12 + 13 + 4);
  });

  it.each([
    ["an empty name", ""],
    ["an empty label", "a..b"],
    ["a 64-octet label", `${"a".repeat(64)}.com`],
    ["a name over 255 octets", Array.from({ length: 5 }, () => "a".repeat(60)).join(".")],
    ["a non-ASCII name (U-label)", "bücher.example"],
  ])("refuses %s with invalid_input", (_what, bad) => {
    expect(() => encodeDnsQuery(bad, DNS_TYPE_TXT)).toThrow(expect.objectContaining({ code: "invalid_input" }));
  });
});

describe("DNS response parsing", () => {
  it("reads compressed owner names and joins a record's character-strings", () => {
    const response = parseDnsResponse(sampleResponse());
    expect(response.rcode).toBe(0);
    expect(response.truncated).toBe(false);
    expect(response.answers).toEqual([
      { name: "_acme-challenge.example.com", type: DNS_TYPE_TXT, ttl: 60, text: "abcdef" },
      { name: "_acme-challenge.example.com", type: DNS_TYPE_TXT, ttl: 60, text: "second-value" },
    ]);
    expect(txtValuesAt("_ACME-challenge.Example.com.", response.answers)).toEqual(["abcdef", "second-value"]);
  });

  it("follows a CNAME whose target is itself compressed, and reports NXDOMAIN", () => {
    // question at 12: _acme-challenge.a.test ; "test" label sits at 12 + 16 + 2 = 30
    const question = name("_acme-challenge", "a", "test");
    const targetOffset = 12 + question.length + 4 + 12; // start of the CNAME's RDATA
    const cnameRdata = [15, ...ascii("_acme-challenge"), 9, ...ascii("delegated"), 0xc0, 30];
    const bytes = Uint8Array.from([
      ...header(0x8180, 1, 2),
      ...question,
      ...u16(DNS_TYPE_TXT),
      ...u16(1),
      ...rr([0xc0, 12], DNS_TYPE_CNAME, 300, cnameRdata),
      ...rr([0xc0, targetOffset], DNS_TYPE_TXT, 60, txt("via-cname")),
    ]);
    const response = parseDnsResponse(bytes);
    expect(response.answers[0]).toMatchObject({ type: DNS_TYPE_CNAME, target: "_acme-challenge.delegated.test" });
    expect(txtValuesAt("_acme-challenge.a.test", response.answers)).toEqual(["via-cname"]);

    const nx = parseDnsResponse(Uint8Array.from([...header(0x8183, 1, 0), ...question, ...u16(16), ...u16(1)]));
    expect(nx).toEqual({ rcode: 3, truncated: false, answers: [] } satisfies DnsResponse);
  });

  it("reads a negative answer's caching TTL from the authority section's SOA (RFC 2308 §5), leniently", () => {
    const question = name("none", "example", "com");
    const soa = (ttl: number, minimum: number) => rr(name("example", "com"), 6, ttl, [...name("ns", "example", "com"), ...name("admin", "example", "com"), ...u32(1), ...u32(7200), ...u32(900), ...u32(1_209_600), ...u32(minimum)]);
    // NODATA with one SOA in the authority section (NSCOUNT 1): min(SOA TTL, MINIMUM).
    const withAuthority = (flags: number, authority: number[]) => {
      const bytes = [...header(flags, 1, 0), ...question, ...u16(257), ...u16(1), ...authority];
      bytes[9] = 1;
      return Uint8Array.from(bytes);
    };
    expect(parseDnsResponse(withAuthority(0x8180, soa(3600, 300))).negativeTtl).toBe(300);
    expect(parseDnsResponse(withAuthority(0x8183, soa(60, 300)))).toEqual({ rcode: 3, truncated: false, answers: [], negativeTtl: 60 });
    // No SOA (an NS record), or a cut-off authority section: no TTL, and the answer still reads.
    expect(parseDnsResponse(withAuthority(0x8180, rr(name("example", "com"), 2, 60, name("ns", "example", "com")))).negativeTtl).toBeUndefined();
    expect(parseDnsResponse(withAuthority(0x8180, soa(3600, 300).slice(0, 30)))).toEqual({ rcode: 0, truncated: false, answers: [] });
  });

  it("escapes odd bytes in names and never lets a dot inside a label split it", () => {
    const bytes = Uint8Array.from([...header(0x8180, 0, 1), ...rr([3, 0x61, 0x2e, 0x00, 0], DNS_TYPE_TXT, 1, txt("x"))]);
    expect(parseDnsResponse(bytes).answers[0]!.name).toBe("a\\046\\000");
  });

  it.each<[string, number[], RegExp]>([
    ["a short header", [0x00, 0x00, 0x81], /truncated in the header/],
    ["a query instead of a response", [...header(0x0100, 0, 0)], /QR bit/],
    ["a pointer to itself", [...header(0x8180, 1, 0), 0xc0, 12, 0, 16, 0, 1], /does not point backwards/],
    ["a forward pointer", [...header(0x8180, 1, 0), 0xc0, 20, 0, 16, 0, 1, 0, 0, 0, 0], /does not point backwards/],
    ["a label running past the end", [...header(0x8180, 1, 0), 10, 0x61, 0x62], /truncated in the label/],
    ["a missing question type", [...header(0x8180, 1, 0), ...name("a")], /truncated in the question/],
    ["an extended label type", [...header(0x8180, 1, 0), 0x41, 0, 0, 16, 0, 1], /unsupported label type/],
    ["RDATA longer than the message", [...header(0x8180, 0, 1), 0, ...u16(16), ...u16(1), ...u32(1), ...u16(50), 1, 0x61], /truncated in the RDATA/],
    ["a character-string overrunning its RDATA", [...header(0x8180, 0, 1), ...rr([0], 16, 1, [5, 0x61, 0x62])], /overruns its RDATA/],
    ["empty TXT RDATA", [...header(0x8180, 0, 1), ...rr([0], 16, 1, [])], /empty TXT RDATA/],
    ["more answers than the message holds", [...header(0x8180, 0, 3), ...rr([0], 16, 1, txt("a"))], /truncated/],
    [
      "a CNAME target overrunning its RDATA",
      [...header(0x8180, 0, 1), ...rr([0], DNS_TYPE_CNAME, 1, [1, 0x61]), 0],
      /CNAME name overruns/,
    ],
  ])("rejects %s with bad_response", (_what, bytes, why) => {
    expectBadResponse(bytes, why);
  });

  it("rejects a name longer than 255 octets built from a chain of backward pointers", () => {
    // Twelve questions, each a 30-octet label followed by a pointer to the previous question's name:
    // every pointer is legal on its own, but the ninth name is already 9 × 31 + 1 > 255 octets.
    const bytes: number[] = [...header(0x8180, 12, 0)];
    let previous = -1;
    for (let i = 0; i < 12; i++) {
      const here = bytes.length;
      bytes.push(30, ...ascii("x".repeat(30)), ...(previous < 0 ? [0] : [0xc0 | (previous >> 8), previous & 0xff]), ...u16(16), ...u16(1));
      previous = here;
    }
    expectBadResponse(bytes, /longer than 255 octets/);
  });
});

describe("DNS parsers never throw anything but EdgecertError", () => {
  const check = (parse: () => unknown): "ok" | "rejected" => {
    try {
      parse();
      return "ok";
    } catch (err) {
      if (!(err instanceof EdgecertError) || err.code !== "bad_response") throw err;
      return "rejected";
    }
  };

  it("random bytes (3 000 seeded inputs)", () => {
    const random = seededRandom(0x5eed);
    const outcomes = { ok: 0, rejected: 0 };
    for (let i = 0; i < 3_000; i++) {
      const bytes = Uint8Array.from({ length: Math.floor(random() * 200) }, () => Math.floor(random() * 256));
      // Half the inputs look like responses with small counts, so the parser gets past the header.
      if (bytes.length >= 12 && i % 2 === 0) {
        bytes[2] = bytes[2]! | 0x80;
        bytes.set([0, Math.floor(random() * 2), 0, Math.floor(random() * 3)], 4);
      }
      outcomes[check(() => parseDnsResponse(bytes))]++;
    }
    expect(outcomes.rejected).toBeGreaterThan(0);
    expect(outcomes.ok).toBeGreaterThan(0);
  });

  it("mutations of a valid response (3 000 seeded inputs): flipped bytes, truncations, pointer rewrites", () => {
    const random = seededRandom(0xd05);
    const valid = sampleResponse();
    const outcomes = { ok: 0, rejected: 0 };
    for (let i = 0; i < 3_000; i++) {
      let bytes = Uint8Array.from(valid);
      const edits = 1 + Math.floor(random() * 4);
      for (let e = 0; e < edits; e++) {
        const at = Math.floor(random() * bytes.length);
        const kind = random();
        if (kind < 0.5) bytes[at] = Math.floor(random() * 256);
        else if (kind < 0.7) bytes = bytes.subarray(0, at);
        else if (kind < 0.9 && at + 1 < bytes.length) {
          bytes[at] = 0xc0 | Math.floor(random() * 4);
          bytes[at + 1] = Math.floor(random() * 256);
        } else if (bytes.length > 7) bytes[7] = Math.floor(random() * 256); // ANCOUNT
      }
      outcomes[check(() => parseDnsResponse(bytes))]++;
    }
    expect(outcomes.rejected).toBeGreaterThan(100);
    expect(outcomes.ok).toBeGreaterThan(100);
  });

  it("random and mangled JSON answers (2 000 seeded inputs)", () => {
    const random = seededRandom(0x15);
    const pieces = ['{"Status":0,"Answer":[', '{"name":"a.","type":16,"TTL":1,"data":"\\"x\\""}', "]}", '"', "\\", "null", "[", "{", "1", ",", '"data":', "}"];
    const outcomes = { ok: 0, rejected: 0 };
    for (let i = 0; i < 2_000; i++) {
      let text = "";
      const n = Math.floor(random() * 8);
      for (let k = 0; k < n; k++) text += pieces[Math.floor(random() * pieces.length)];
      if (i % 10 === 0) text = '{"Status":0,"Answer":[{"name":"a.","type":16,"TTL":1,"data":"' + "\\\"".repeat(Math.floor(random() * 5)) + '"}]}';
      outcomes[check(() => parseDnsJson(text))]++;
    }
    expect(outcomes.rejected).toBeGreaterThan(0);
    expect(outcomes.ok).toBeGreaterThan(0);
  });
});
