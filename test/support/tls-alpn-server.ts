import { createSecureContext, createServer, type SecureContext } from "node:tls";
import type { TlsAlpn01Solver } from "../../src/index.ts";

/**
 * A TLS server on 127.0.0.1:port that answers `acme-tls/1` handshakes with the solver's challenge
 * certificate for the SNI name (RFC 8737 §3). Handshakes without a live certificate fail.
 */
export async function serveTlsAlpn01(port: number, solver: TlsAlpn01Solver): Promise<{ close(): Promise<void>; handshakes: string[] }> {
  const handshakes: string[] = [];
  const contextFor = (name: string): SecureContext | undefined => {
    const cert = solver.certificateFor(name);
    return cert ? createSecureContext({ cert: cert.certificatePem, key: cert.privateKeyPem }) : undefined;
  };
  const server = createServer({
    ALPNProtocols: ["acme-tls/1"],
    SNICallback: (name, cb) => {
      handshakes.push(name);
      const ctx = contextFor(name);
      if (ctx) cb(null, ctx);
      else cb(new Error(`no tls-alpn-01 certificate for ${name}`));
    },
  });
  server.on("secureConnection", (socket) => socket.end());
  server.on("tlsClientError", () => {});
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, "127.0.0.1", () => resolve());
  });
  return {
    handshakes,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
