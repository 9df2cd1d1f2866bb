/**
 * DNS for dns-01 at the edge: DNS-over-HTTPS propagation checks (RFC 8484 wire format and the JSON
 * format), a Cloudflare DNS solver, a pebble-challtestsrv solver, and dns-account-01 record names.
 * `fetch` and WebCrypto only.
 * @module
 */
export {
  CLOUDFLARE_API_BASE_URL,
  CloudflareApiError,
  type CloudflareApiMessage,
} from "./cloudflare-api.ts";
export { CloudflareDnsSolver, type CloudflareDnsSolverOptions } from "./cloudflare-dns-solver.ts";
export { challtestsrvDns01Solver, type ChalltestsrvDns01Options } from "./challtestsrv-solver.ts";
export { dnsAccount01RecordName } from "./dns-account-label.ts";
export { queryCaa, queryTxt, type CaaLookup, type CaaRecord, type DohFormat, type DohQueryOptions, type TxtLookup } from "./doh-query.ts";
export { parseDnsJson } from "./json-format.ts";
export { DEFAULT_DOH_RESOLVERS, waitForTxt, type DohWaitOptions } from "./wait-for-txt.ts";
export {
  DNS_TYPE_CNAME,
  DNS_TYPE_TXT,
  encodeDnsQuery,
  parseDnsResponse,
  type DnsAnswer,
  type DnsQueryOptions,
  type DnsResponse,
} from "./wire-format.ts";
