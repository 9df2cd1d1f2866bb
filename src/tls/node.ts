/**
 * `edgecert/tls/node`: automatic HTTPS for Node (≥ 20) from a `CertificateManager` — the
 * counterpart of Go's autocert `TLSConfig`, `HTTPHandler` and `NewListener`. Node-only (`node:tls`,
 * `node:https`): kept out of the main entry point, which must load in Workers.
 * @module
 */
export { httpHandler } from "./node/http-handler.ts";
export { createHttpsServer, type HttpsServerOptions } from "./node/https-server.ts";
export { listen, type AutoHttps, type ListeningManager, type ListenOptions } from "./node/listen.ts";
export { SecureContextCache, type ServableCertificate } from "./node/secure-contexts.ts";
export { tlsServerOptions, type SniCallback, type TlsServerOptionsInit } from "./node/server-options.ts";
export { answerTlsAlpn01, type TlsAlpn01CertificateSource, type TlsAlpn01RoutingOptions } from "./node/tls-alpn01-routing.ts";
export { acmeHttpHandler, type AcmeHttpHandlerOptions, type FetchHandler } from "./fetch-http-handler.ts";
export { isAcmeTlsAlpnHello, parseClientHello, type ClientHelloInfo, type ClientHelloParse } from "./client-hello.ts";
export type { ChallengeResponder, PlainHttpOptions } from "./plain-http.ts";
export { startRenewalTimer, type RenewalTimer, type RenewalTimerOptions } from "./renewal-timer.ts";
