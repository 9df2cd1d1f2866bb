/**
 * `edgecert/tls/bun`: automatic HTTPS for Bun from a `CertificateManager` — `Bun.serve` with the
 * manager's certificates, swapped on renewal, plus the plain-HTTP port (http-01, redirect).
 * @module
 */
export {
  serveWithCertificates,
  type BunFetchHandler,
  type BunRuntime,
  type BunServer,
  type BunServeWithCertificatesOptions,
  type BunTlsEntry,
  type ServingWithCertificates,
} from "./bun/serve-with-certificates.ts";
export { acmeHttpHandler, type AcmeHttpHandlerOptions, type FetchHandler } from "./fetch-http-handler.ts";
export type { ChallengeResponder, PlainHttpOptions } from "./plain-http.ts";
export { startRenewalTimer, type RenewalTimer, type RenewalTimerOptions } from "./renewal-timer.ts";
export type { ServingManager } from "./served-certificates.ts";
// The options every serveWithCertificates shares, exported so its options type is fully public.
export type { ServeWithCertificatesCommonOptions } from "./served-certificates.ts";
