/// <reference types="node" />
import type { RequestListener } from "node:http";
import { createServer, type Server, type ServerOptions } from "node:https";
import type { CertificateManager } from "../../manager/certificate-manager.ts";
import { tlsServerOptions, type TlsServerOptionsInit } from "./server-options.ts";
import { answerTlsAlpn01, type TlsAlpn01CertificateSource } from "./tls-alpn01-routing.ts";

/** Options for {@link createHttpsServer}. */
export interface HttpsServerOptions extends TlsServerOptionsInit {
  /** Serves the requests (also attachable later with `server.on("request", …)`). */
  handler?: RequestListener;
  /** Answer tls-alpn-01 validations on this server with this solver's challenge certificates. */
  tlsAlpn01?: TlsAlpn01CertificateSource;
  /** Other `https.createServer` options (timeouts, `ALPNProtocols`, …). `SNICallback` is edgecert's. */
  server?: ServerOptions;
}

/**
 * An `https.Server` whose certificates come from the manager, per SNI name, renewed certificates
 * included (see {@link tlsServerOptions}); with `tlsAlpn01`, it also answers tls-alpn-01 validations
 * (see {@link answerTlsAlpn01}). Not listening yet: call `listen()`.
 */
export function createHttpsServer(manager: Pick<CertificateManager, "getCertificate">, options: HttpsServerOptions = {}): Server {
  const server = createServer({ ...options.server, ...tlsServerOptions(manager, options) });
  if (options.handler) server.on("request", options.handler);
  if (options.tlsAlpn01) answerTlsAlpn01(server, options.tlsAlpn01);
  return server;
}
