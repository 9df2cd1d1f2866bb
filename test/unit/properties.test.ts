import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  AcmeProblem,
  EdgecertError,
  base64urlDecode,
  base64urlEncode,
  parseCertificate,
  pemDecodeAll,
  pemEncode,
  readCsrNames,
  readDer,
  splitPemChain,
  toIdentifier,
} from "../../src/index.ts";

// Random input gives a result or a typed EdgecertError — never another exception.
function typedOrValue(fn: () => unknown): void {
  try {
    fn();
  } catch (err) {
    if (!(err instanceof EdgecertError)) throw new Error(`untyped ${String(err)}`);
  }
}

const runs = { numRuns: 500 };

describe("properties", () => {
  it("base64url: encode/decode round-trips any bytes; decoding any string is typed", () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 256 }), (bytes) => {
      expect([...base64urlDecode(base64urlEncode(bytes))]).toEqual([...bytes]);
    }), runs);
    fc.assert(fc.property(fc.string(), (text) => typedOrValue(() => base64urlDecode(text))), runs);
  });

  it("PEM: encode/decode round-trips any DER; garbage text is typed", () => {
    fc.assert(fc.property(fc.uint8Array({ minLength: 1, maxLength: 512 }), fc.constantFrom("CERTIFICATE", "PRIVATE KEY"), (der, label) => {
      const [block] = pemDecodeAll(pemEncode(label, der));
      expect(block!.label).toBe(label);
      expect([...block!.der]).toEqual([...der]);
    }), runs);
    const pemish = fc.oneof(
      fc.string(),
      fc.string().map((s) => `-----BEGIN CERTIFICATE-----\n${s}\n-----END CERTIFICATE-----`),
      fc.base64String().map((s) => `-----BEGIN CERTIFICATE-----\n${s}\n-----END CERTIFICATE-----`),
    );
    fc.assert(fc.property(pemish, (text) => {
      typedOrValue(() => pemDecodeAll(text));
      typedOrValue(() => splitPemChain(text));
      typedOrValue(() => parseCertificate(text));
    }), runs);
  });

  it("DER: random bytes never escape as untyped errors from the readers and parsers", () => {
    const derish = fc.oneof(
      fc.uint8Array({ maxLength: 300 }),
      fc.uint8Array({ maxLength: 300 }).map((b) => Uint8Array.from([0x30, 0x82, (b.length >> 8) & 0xff, b.length & 0xff, ...b])),
    );
    fc.assert(fc.property(derish, (bytes) => {
      typedOrValue(() => readDer(bytes));
      typedOrValue(() => parseCertificate(bytes));
      typedOrValue(() => readCsrNames(bytes));
    }), runs);
  });

  it("identifiers: any string is an identifier or a typed error, and valid ones are stable", () => {
    fc.assert(fc.property(fc.oneof(fc.string(), fc.domain(), fc.ipV4(), fc.ipV6()), (name) => {
      try {
        const id = toIdentifier(name);
        // Normalising twice changes nothing.
        expect(toIdentifier(id.value)).toEqual(id);
      } catch (err) {
        if (!(err instanceof EdgecertError)) throw err;
      }
    }), runs);
    fc.assert(fc.property(fc.domain(), (d) => {
      // Every RFC-shaped domain with two or more labels and a non-numeric TLD is accepted.
      if (d.split(".").length < 2 || /^\d+$/.test(d.split(".").pop()!)) return;
      expect(toIdentifier(d).type).toBe("dns");
    }), runs);
  });

  it("problem documents: any JSON value becomes a usable AcmeProblem", () => {
    fc.assert(fc.property(fc.jsonValue(), fc.option(fc.integer({ min: 100, max: 599 }), { nil: undefined }), (doc, status) => {
      const p = new AcmeProblem((typeof doc === "object" && doc !== null && !Array.isArray(doc) ? doc : {}) as never, status === undefined ? {} : { status });
      expect(typeof p.type).toBe("string");
      expect(typeof p.message).toBe("string");
      expect(Array.isArray(p.subproblems)).toBe(true);
      expect(p.code).toBe("acme_problem");
    }), runs);
  });
});
