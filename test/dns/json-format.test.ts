import { describe, expect, it } from "vitest";
import { parseDnsJson, txtData } from "../../src/dns/json-format.ts";
import { txtValuesAt } from "../../src/dns/doh-query.ts";

describe("DNS JSON answers (application/dns-json)", () => {
  it.each([
    ["Cloudflare's quoted form", '"abc"', "abc"],
    ["a record split into character-strings", '"part-one" "part-two"', "part-onepart-two"],
    ["escaped quotes, backslashes and \\DDD", '"a\\"b\\\\c\\065"', 'a"b\\cA'],
    ["Google's unquoted form", "v=spf1 -all", "v=spf1 -all"],
    ["an unterminated quote, taken as it is", '"abc', '"abc'],
  ])("reads %s", (_what, data, expected) => {
    expect(txtData(data)).toBe(expected);
  });

  it("reads Status, names with trailing dots and a CNAME chain", () => {
    const response = parseDnsJson(
      JSON.stringify({
        Status: 0,
        TC: false,
        Answer: [
          { name: "_acme-challenge.Example.com.", type: 5, TTL: 300, data: "_acme-challenge.other.net." },
          { name: "_acme-challenge.other.net.", type: 16, TTL: 60, data: '"value-1"' },
          { name: "_acme-challenge.other.net.", type: 16, TTL: 60, data: '"value-2"' },
        ],
      }),
    );
    expect(txtValuesAt("_acme-challenge.example.com", response.answers)).toEqual(["value-1", "value-2"]);
    expect(parseDnsJson('{"Status":3}')).toEqual({ rcode: 3, truncated: false, answers: [] });
  });

  it.each([
    ["not JSON", "<html>"],
    ["an array", "[]"],
    ["no Status", '{"Answer":[]}'],
    ["Answer not a list", '{"Status":0,"Answer":{}}'],
    ["an entry without data", '{"Status":0,"Answer":[{"name":"a.","type":16}]}'],
  ])("rejects %s with bad_response", (_what, text) => {
    expect(() => parseDnsJson(text)).toThrow(expect.objectContaining({ code: "bad_response" }));
  });
});
