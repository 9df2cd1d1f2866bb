import type { CertificateRenewer } from "./certificate-renewer.ts";
import type { RenewalIndex } from "./renewal-index.ts";

/** Bindings, vars and secrets of the edgecert Worker (see wrangler.toml). */
export interface Env {
  /** ACME directory URL, e.g. Let's Encrypt's. */
  ACME_DIRECTORY_URL: string;
  /** `"true"` once you have read and agreed to the CA's terms of service (RFC 8555 §7.3); needed to create its account. */
  ACME_TERMS_OF_SERVICE_AGREED?: string;
  /** Contact email for the ACME account. */
  CONTACT_EMAIL?: string;
  /** Certificate key type: ES256 (default), ES384, RS256 or EdDSA. */
  KEY_TYPE?: string;
  /** Comma-separated names (`*.example.com` allows one level below) the admin API may add. Empty: any. */
  ALLOWED_NAMES?: string;
  /**
   * DoH resolver URL (RFC 8484). Setting it turns on dns-persist-01 (experimental,
   * draft-ietf-acme-dns-persist): wildcards and names whose `_validation-persist` record is in place are
   * validated with no DNS credentials; the resolver checks the records before the CA is asked.
   */
  DNS_PERSIST_RESOLVER?: string;
  /**
   * Secret: a Cloudflare API token (Zone → DNS → Edit, and Zone → Zone → Read unless
   * CLOUDFLARE_ZONE_ID is set). Turns on dns-01 through the Cloudflare DNS API: wildcards, and names
   * whose http-01 cannot reach the Worker.
   */
  CLOUDFLARE_API_TOKEN?: string;
  /** Zone hint: the id of the one zone dns-01 records go in (skips the zone lookup). */
  CLOUDFLARE_ZONE_ID?: string;
  /** Cloudflare API base URL; default https://api.cloudflare.com/client/v4 (tests point it at a stand-in). */
  CLOUDFLARE_API_BASE_URL?: string;
  /** Comma-separated DoH resolvers (RFC 8484) the dns-01 propagation check asks; default Cloudflare's and Google's. */
  DNS_PROPAGATION_RESOLVERS?: string;
  /** Certificate profile to ask the CA for (draft-ietf-acme-profiles), e.g. `shortlived`. */
  ACME_PROFILE?: string;
  /** Most certificates one cron tick dispatches (default 50); the rest wait for the next tick. */
  RENEW_BATCH?: string;
  /** Secret: bearer token of the admin API. */
  ADMIN_TOKEN: string;
  /** Secret: seals private keys at rest (AES-GCM under a key derived with HKDF); at least 256 bits, base64 or hex. */
  STORAGE_ENCRYPTION_KEY?: string;
  /** Secret: the key used before a rotation (or before turning encryption off), still used to open records. */
  STORAGE_ENCRYPTION_KEY_PREVIOUS?: string;
  /** `"off"` turns encryption off (with the old key as STORAGE_ENCRYPTION_KEY_PREVIOUS); `"on"` insists on a key. */
  STORAGE_ENCRYPTION?: string;
  /** Certificates, when stored in KV. */
  CERTS?: KVNamespace;
  /** Certificates, when stored in R2 (preferred over KV when both are bound). */
  CERT_BUCKET?: R2Bucket;
  /** Strongly consistent storage: challenge tokens, locks, accounts, pending orders. */
  EDGECERT_STORE: DurableObjectNamespace;
  /** The due-date index (SQLite), one instance. */
  RENEWAL_INDEX: DurableObjectNamespace<RenewalIndex>;
  /** One instance per certificate: runs its issuance or renewal in an invocation of its own. */
  CERTIFICATE_RENEWER: DurableObjectNamespace<CertificateRenewer>;
}
