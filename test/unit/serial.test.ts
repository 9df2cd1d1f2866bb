import { describe, expect, it } from "vitest";
import { formatSerial, parseCertificate } from "../../src/webcrypto/index.ts";
import { openssl } from "../support/openssl.ts";

/**
 * Serials as openssl prints them (issue 25 item 3): a certificate whose serial has the high bit set
 * carries a DER sign byte (0x00) that `openssl x509 -serial` does not print. Each serial below is put
 * into a real certificate by openssl, parsed by edgecert, and compared with openssl's own output.
 */
describe("formatSerial", () => {
  const serials = ["0x87654321", "0x0123", "0x7f", "0x80", "0xff00ff00ff00ff00ff00ff00ff00ff00ff00ff00", "0x00", "1"];
  it.each(serials)("serial %s: edgecert prints what openssl x509 -serial prints", async (serial) => {
    const pem = await openssl([
      "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "{dir}/key.pem",
      "-subj", "/CN=serial.test", "-days", "1", "-set_serial", serial,
    ]);
    const cert = pem.slice(pem.indexOf("-----BEGIN CERTIFICATE-----"));
    const printed = (await openssl(["x509", "-noout", "-serial", "-in", "{dir}/c.pem"], { "c.pem": cert })).trim().replace(/^serial=/, "");
    const info = parseCertificate(cert);
    expect(formatSerial(info.serialNumber)).toBe(printed);
    expect(formatSerial(info.serialBytes)).toBe(printed);
  });

  it("the high-bit serial: the stored form keeps the sign byte, the printed one does not; every old form maps to it", () => {
    expect(formatSerial("0087654321")).toBe("87654321");
    expect(formatSerial("87654321")).toBe("87654321");
    expect(formatSerial("00:87:65:43:21")).toBe("87654321");
    expect(formatSerial("4f1c")).toBe("4F1C");
    expect(formatSerial("0123")).toBe("0123");
    expect(formatSerial("123")).toBe("0123");
    expect(formatSerial("00")).toBe("00");
  });
});
