/**
 * Certificate serial numbers as people compare them. A serial is a positive INTEGER (RFC 5280 §4.1.2.2);
 * its DER content carries a leading 0x00 whenever the first byte has its high bit set, so that the
 * number reads as positive (X.690 §8.3.2). That byte is encoding, not part of the number: `openssl x509
 * -serial` prints `87654321`, not `0087654321`, in upper case, two digits per byte. Hooks, file names
 * and messages use this form so a serial copied from openssl's output matches.
 * @module
 */
import { toBytes, toHex, type BytesLike } from "./bytes.ts";

/**
 * The serial as `openssl x509 -noout -serial` prints it: upper-case hex, two digits per byte, without
 * the DER sign byte(s). Takes the DER content bytes or a hex string in any of the forms in use (lower
 * or upper case, with or without the sign byte, with `:` separators); the result is the same for all,
 * so comparing two serials is comparing `formatSerial(a) === formatSerial(b)`.
 */
export function formatSerial(serial: string | BytesLike): string {
  let hex = typeof serial === "string" ? serial.replace(/[:\s]/g, "") : toHex(toBytes(serial));
  if (!/^[0-9a-fA-F]*$/.test(hex)) return serial as string;
  if (hex.length % 2 === 1) hex = `0${hex}`;
  // Leading zero bytes only pad the sign (RFC 5280 serials are positive); keep one byte for zero.
  while (hex.length > 2 && hex.startsWith("00")) hex = hex.slice(2);
  return hex.length === 0 ? "00" : hex.toUpperCase();
}
