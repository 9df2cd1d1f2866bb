/**
 * `edgecert/tls/deno`: automatic HTTPS for Deno from a `CertificateManager` — `Deno.serve` with the
 * manager's certificate, re-served on renewal, plus the plain-HTTP port (http-01, redirect).
 * @module
 */
export {
  serveWithCertificates,
  type DenoHttpServer,
  type DenoNetAddr,
  type DenoRuntime,
  type DenoServeHandler,
  type DenoServeHandlerInfo,
  type DenoServeWithCertificatesOptions,
  type DenoServingWithCertificates,
} from "./deno/serve-with-certificates.ts";
export { acmeHttpHandler, type AcmeHttpHandlerOptions, type FetchHandler } from "./fetch-http-handler.ts";
export type { ChallengeResponder, PlainHttpOptions } from "./plain-http.ts";
export { startRenewalTimer, type RenewalTimer, type RenewalTimerOptions } from "./renewal-timer.ts";
export type { ServingManager } from "./served-certificates.ts";
// The options every serveWithCertificates shares, exported so its options type is fully public.
export type { ServeWithCertificatesCommonOptions } from "./served-certificates.ts";
