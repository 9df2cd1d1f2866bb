/// <reference types="node" />
import type { Socket } from "node:net";
import { createSecureContext, createServer, type Server as TlsServer } from "node:tls";
import type { TlsAlpn01Solver } from "../../acme/solvers/tls-alpn01-solver.ts";
import { ACME_TLS_ALPN_PROTOCOL } from "../../webcrypto/tls-alpn-certificate.ts";
import { isAcmeTlsAlpnHello, parseClientHello, type ClientHelloInfo } from "../client-hello.ts";

/** Options for {@link answerTlsAlpn01}. */
export interface TlsAlpn01RoutingOptions {
  /** How long to wait for a complete ClientHello before handing the connection on as it is. Default 10 000 ms. */
  helloTimeoutMs?: number;
}

/** The part of a tls-alpn-01 solver a server needs. */
export type TlsAlpn01CertificateSource = Pick<TlsAlpn01Solver, "certificateFor">;

const ROUTED = Symbol("edgecert.tlsAlpn01Routed");
/** A ClientHello fits in one record in practice; more than this is not a validation. */
const MAX_PEEK_BYTES = 20 * 1024;

/**
 * Makes a `tls.Server` (or `https`/`http2` secure server) answer tls-alpn-01 validations (RFC 8737)
 * with the solver's challenge certificates, on the port that serves the real ones.
 *
 * Why the ClientHello is read first: the challenge certificate must be chosen from the ALPN list the
 * client offers (exactly `acme-tls/1`, RFC 8737 §3), and Node's `SNICallback` is not told that list.
 * `ALPNCallback` (in Node 20) is, but OpenSSL calls it after the certificate callback in
 * TLS 1.2 (before it only in TLS 1.3), so it cannot choose the certificate in general. Instead the
 * server's `'connection'` listeners are wrapped: the first bytes are buffered until the ClientHello is
 * complete, then put back (`unshift`) and the socket goes either to an internal server holding the
 * challenge certificates or to the original listeners. This works on every Node ≥ 20 and both TLS
 * versions. Call before `listen()`; calling twice is a no-op.
 */
export function answerTlsAlpn01(server: TlsServer, solver: TlsAlpn01CertificateSource, options: TlsAlpn01RoutingOptions = {}): void {
  const marked = server as TlsServer & { [ROUTED]?: true };
  if (marked[ROUTED]) return;
  marked[ROUTED] = true;
  const challengeServer = createServer({
    ALPNProtocols: [ACME_TLS_ALPN_PROTOCOL],
    handshakeTimeout: 10_000,
    SNICallback: (serverName, callback) => {
      const certificate = solver.certificateFor(serverName);
      if (!certificate) {
        callback(new Error(`edgecert: no tls-alpn-01 challenge for ${JSON.stringify(serverName)}`));
        return;
      }
      callback(null, createSecureContext({ cert: certificate.certificatePem, key: certificate.privateKeyPem }));
    },
  });
  // The validation ends with the handshake (RFC 8737 §3); nothing is served on this connection.
  challengeServer.on("secureConnection", (socket) => socket.end());
  challengeServer.on("tlsClientError", (_error, socket) => socket.destroy());

  const original = server.listeners("connection") as Array<(this: TlsServer, socket: Socket) => void>;
  server.removeAllListeners("connection");
  server.on("connection", (socket: Socket) => {
    void readClientHello(socket, options.helloTimeoutMs ?? 10_000).then((hello) => {
      if (hello === "closed") return;
      if (hello && isAcmeTlsAlpnHello(hello)) challengeServer.emit("connection", socket);
      else for (const listener of original) listener.call(server, socket);
    });
  });
}

/**
 * Buffers the start of a connection until the ClientHello is complete (or clearly is not one), then
 * pauses the socket and puts the bytes back, so the TLS server that gets it reads them as if new
 * (Node's TLSSocket drains data already buffered on the socket it wraps).
 */
function readClientHello(socket: Socket, timeoutMs: number): Promise<ClientHelloInfo | undefined | "closed"> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const finish = (result: ClientHelloInfo | undefined | "closed") => {
      clearTimeout(timer);
      socket.off("data", onData);
      socket.off("error", onClosed);
      socket.off("end", onClosed);
      socket.off("close", onClosed);
      if (result === "closed") {
        socket.destroy();
      } else {
        socket.pause();
        if (size > 0) socket.unshift(Buffer.concat(chunks, size));
      }
      resolve(result);
    };
    const onData = (chunk: Buffer) => {
      chunks.push(chunk);
      size += chunk.length;
      const parsed = parseClientHello(chunks.length === 1 ? chunk : Buffer.concat(chunks, size));
      if (parsed.status === "ok") finish(parsed.hello);
      else if (parsed.status === "invalid" || size >= MAX_PEEK_BYTES) finish(undefined);
    };
    const onClosed = () => finish("closed");
    const timer = setTimeout(() => finish(undefined), timeoutMs);
    socket.on("data", onData);
    socket.once("error", onClosed);
    socket.once("end", onClosed);
    socket.once("close", onClosed);
  });
}
