/// <reference types="node" />
import type { SecureContextOptions, TlsOptions } from "node:tls";
import type { CertificateManager } from "../../manager/certificate-manager.ts";
import { SecureContextCache } from "./secure-contexts.ts";

/** Options for {@link tlsServerOptions}. */
export interface TlsServerOptionsInit {
  /** Extra options for every secure context (`minVersion`, `ciphers`, …). */
  secureContext?: SecureContextOptions;
  /** Told when a handshake gets no certificate (unknown name, host policy refused, issuance failed). */
  onError?: (error: unknown, serverName: string) => void;
}

/** The `SNICallback` {@link tlsServerOptions} returns, as `tls.createServer` takes it. */
export type SniCallback = NonNullable<TlsOptions["SNICallback"]>;

/**
 * Options for `tls.createServer` / `https.createServer` / `http2.createSecureServer` (autocert's
 * `TLSConfig`): an `SNICallback` that serves `manager.getCertificate(servername)`, with one secure
 * context per certificate serial, so renewed certificates are served from the next handshake on.
 * Names the manager has no certificate for (and may not obtain under its host policy) fail the
 * handshake. Clients that send no SNI (connections by IP address) get the server's default context,
 * if any — there is none unless you give `cert`/`key` yourself.
 */
export function tlsServerOptions(manager: Pick<CertificateManager, "getCertificate">, init: TlsServerOptionsInit = {}): { SNICallback: SniCallback } {
  const contexts = new SecureContextCache(init.secureContext);
  const SNICallback: SniCallback = (serverName, callback) => {
    manager
      .getCertificate(serverName)
      .then((certificate) => {
        if (!certificate) throw new Error(`edgecert: no certificate for ${JSON.stringify(serverName)}`);
        return contexts.contextFor(certificate);
      })
      .then(
        (context) => callback(null, context),
        (error: unknown) => {
          init.onError?.(error, serverName);
          callback(error instanceof Error ? error : new Error(String(error)));
        },
      );
  };
  return { SNICallback };
}
