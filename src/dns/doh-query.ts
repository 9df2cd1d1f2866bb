/**
 * One lookup through a DNS-over-HTTPS resolver: TXT in the RFC 8484 wire format or the JSON format, CAA
 * in the wire format.
 * @module
 */
import { EdgecertError } from "../errors.ts";
import { readBodyBytes } from "../acme/http-response.ts";
import { timeoutSignal } from "../abort.ts";
import { abortError } from "../acme/retry.ts";
import { base64urlEncode } from "../webcrypto/base64url.ts";
import { parseDnsJson } from "./json-format.ts";
import {
  DNS_TYPE_CAA,
  DNS_TYPE_CNAME,
  DNS_TYPE_TXT,
  encodeDnsQuery,
  normalizeDnsName,
  parseDnsResponse,
  type DnsAnswer,
  type DnsResponse,
} from "./wire-format.ts";

/** How a resolver is asked: RFC 8484 `application/dns-message`, or `application/dns-json`. */
export type DohFormat = "wire" | "json";

/** Options for {@link queryTxt}. */
export interface DohQueryOptions {
  /** RFC 8484 wire format or the JSON API. Default: wire. */
  format?: DohFormat;
  /** A `fetch` to use instead of the global one. */
  fetch?: typeof fetch;
  /** Set CD (checking disabled): `cd=1` in JSON, the CD bit on the wire (RFC 4035 §3.2.2). */
  checkingDisabled?: boolean;
  /** Per-request timeout in ms (default 10 000). */
  requestTimeoutMs?: number;
  /** Aborts the query. */
  signal?: AbortSignal;
}

/** What one resolver said about a TXT name. */
export interface TxtLookup {
  /** DNS RCODE: 0 NOERROR, 2 SERVFAIL, 3 NXDOMAIN, … */
  rcode: number;
  /** TXT values at the name (after following CNAMEs in the answer), each RR's strings concatenated. */
  values: string[];
}

/** A DNS message is at most 65 535 octets (RFC 8484 §6 carries it whole); JSON answers are similar. */
const MAX_ANSWER_BYTES = 65_535 * 2;
/** CNAME hops followed inside one answer section. */
const MAX_CNAME_HOPS = 8;

/**
 * Asks `resolverUrl` for the TXT records at `name`. Wire format: `GET ?dns=<base64url, no padding>` with
 * `accept: application/dns-message` (RFC 8484 §4.1, §6); JSON: `GET ?name=&type=TXT` with
 * `accept: application/dns-json`. A URI template suffix such as `{?dns}` is ignored.
 * Throws `EdgecertError`: `network` (transport, timeout, HTTP 5xx/429/408), `invalid_input` (any other
 * non-200 status: wrong URL or format), `bad_response` (an unparseable body), `aborted`.
 */
export async function queryTxt(resolverUrl: string, name: string, options: DohQueryOptions = {}): Promise<TxtLookup> {
  const response = await queryDoh(resolverUrl, name, DNS_TYPE_TXT, "TXT", options);
  return { rcode: response.rcode, values: txtValuesAt(name, response.answers) };
}

/** One CAA record (RFC 8659 §4.1). */
export interface CaaRecord {
  /** 128 (the critical bit) or 0. */
  flags: number;
  /** `issue`, `issuewild`, `iodef`, … in lower case. */
  tag: string;
  /** The property value, as UTF-8 text. */
  value: string;
}

/** What one resolver said about the CAA records at a name. */
export interface CaaLookup {
  /** DNS RCODE: 0 NOERROR, 2 SERVFAIL, 3 NXDOMAIN, … */
  rcode: number;
  /** The CAA records at the name, or at the end of its CNAME chain in the answer. */
  records: CaaRecord[];
  /**
   * How long the answer may be reused, in seconds: the smallest TTL of the records read (CNAMEs and
   * CAA), or for no records the negative-caching TTL (RFC 2308 §5). Absent when the answer gives none.
   */
  ttl?: number;
}

/** Asks `resolverUrl` for the CAA records at `name` (wire format only: the JSON API has no standard CAA form). Errors as {@link queryTxt}. */
export async function queryCaa(resolverUrl: string, name: string, options: Omit<DohQueryOptions, "format"> = {}): Promise<CaaLookup> {
  const response = await queryDoh(resolverUrl, name, DNS_TYPE_CAA, "CAA", { ...options, format: "wire" });
  let current = normalizeDnsName(name);
  let ttl = Infinity;
  for (let hop = 0; hop <= MAX_CNAME_HOPS; hop++) {
    const here = response.answers.filter((a) => a.name === current);
    const caa = here.filter((a) => a.type === DNS_TYPE_CAA && a.caa);
    if (caa.length > 0) return { rcode: response.rcode, records: caa.map((a) => a.caa!), ttl: Math.min(ttl, ...caa.map((a) => a.ttl)) };
    const alias = here.find((a) => a.type === DNS_TYPE_CNAME && a.target !== undefined);
    if (!alias) break;
    ttl = Math.min(ttl, alias.ttl);
    current = alias.target!;
  }
  // No records: a negative answer, reusable for the SOA's negative TTL (RFC 2308 §5), or not at all.
  const negative = response.negativeTtl === undefined ? undefined : Math.min(ttl, response.negativeTtl);
  return negative === undefined ? { rcode: response.rcode, records: [] } : { rcode: response.rcode, records: [], ttl: negative };
}

async function queryDoh(resolverUrl: string, name: string, type: number, typeName: string, options: DohQueryOptions): Promise<DnsResponse> {
  const format = options.format ?? "wire";
  const fetchFn = options.fetch ?? ((input, init) => fetch(input, init));
  let url: URL;
  try {
    url = new URL(resolverUrl.replace(/\{\?[^}]*\}$/, ""));
  } catch (cause) {
    throw new EdgecertError("invalid_input", `not a DoH resolver URL: ${JSON.stringify(resolverUrl)}`, { cause });
  }
  if (format === "wire") {
    url.searchParams.set("dns", base64urlEncode(encodeDnsQuery(name, type, { checkingDisabled: options.checkingDisabled === true })));
  } else {
    url.searchParams.set("name", name.replace(/\.$/, ""));
    url.searchParams.set("type", typeName);
    if (options.checkingDisabled) url.searchParams.set("cd", "1");
  }
  const accept = format === "wire" ? "application/dns-message" : "application/dns-json";
  const timeoutMs = options.requestTimeoutMs ?? 10_000;
  // A timer that stops with the query: AbortSignal.timeout's would stay pending (and keep a Durable Object in memory).
  const timer = timeoutSignal(timeoutMs);
  const timeout = timer.signal;
  const signal = options.signal ? AbortSignal.any([options.signal, timeout]) : timeout;
  const where = `${url.origin}${url.pathname}`;
  let body: Uint8Array;
  let status: number;
  try {
    const res = await fetchFn(url.href, { method: "GET", headers: { accept }, signal });
    status = res.status;
    if (status !== 200) {
      await res.body?.cancel().catch(() => {});
      // 5xx, 429 and 408 may pass; any other status means the URL or format is wrong (caller input).
      const transient = status === 429 || status === 408 || status >= 500;
      throw new EdgecertError(
        transient ? "network" : "invalid_input",
        `DoH resolver ${where} answered HTTP ${status}${transient ? "" : ` (is it a DoH endpoint for the ${format} format?)`}`,
      );
    }
    body = await readBodyBytes(res, `DoH resolver ${where}`, MAX_ANSWER_BYTES);
  } catch (cause) {
    if (options.signal?.aborted) throw abortError(options.signal);
    if (cause instanceof EdgecertError) throw cause;
    const what = timeout.aborted ? `timed out after ${timeoutMs} ms` : String(cause);
    throw new EdgecertError("network", `DoH query to ${where} failed: ${what}`, { cause });
  } finally {
    timer.clear();
  }
  let response: DnsResponse;
  if (format === "wire") response = parseDnsResponse(body);
  else {
    let text: string;
    try {
      text = new TextDecoder("utf-8", { fatal: true, ignoreBOM: false }).decode(body);
    } catch (cause) {
      throw new EdgecertError("bad_response", `DoH resolver ${where} sent a JSON answer that is not UTF-8`, { cause });
    }
    response = parseDnsJson(text);
  }
  return response;
}

/**
 * The TXT values an answer section holds for `name`, following a CNAME chain (e.g. an `_acme-challenge`
 * name delegated to another zone) for a bounded number of hops.
 */
export function txtValuesAt(name: string, answers: readonly DnsAnswer[]): string[] {
  let current = normalizeDnsName(name);
  for (let hop = 0; hop <= MAX_CNAME_HOPS; hop++) {
    const here = answers.filter((a) => a.name === current);
    const texts = here.filter((a) => a.type === DNS_TYPE_TXT && a.text !== undefined).map((a) => a.text!);
    if (texts.length > 0) return texts;
    const alias = here.find((a) => a.type === DNS_TYPE_CNAME && a.target !== undefined);
    if (!alias) return [];
    current = alias.target!;
  }
  return [];
}

