/// <reference types="node" />
import { createServer as createHttpServer, type RequestListener, type Server as HttpServer } from "node:http";
import type { Server as HttpsServer } from "node:https";
import type { Server as NetServer } from "node:net";
import type { CertificateManager, ManagedCertificate } from "../../manager/certificate-manager.ts";
import { startRenewalTimer, type RenewalTimer, type RenewalTimerOptions } from "../renewal-timer.ts";
import { httpHandler } from "./http-handler.ts";
import { createHttpsServer, type HttpsServerOptions } from "./https-server.ts";

/** What {@link listen} needs from the manager. */
export type ListeningManager = Pick<CertificateManager, "manage" | "getCertificate" | "httpChallengeResponse" | "renewDue">;

/** Options for {@link listen}. */
export interface ListenOptions extends HttpsServerOptions {
  /** The names of the one certificate to obtain up front (`manager.manage(names)`). */
  names: string[];
  /** HTTPS port. Default 443; 0 picks a free port. */
  httpsPort?: number;
  /** Plain-HTTP port for http-01 and the redirect to HTTPS. Default 80; `false` for none. */
  httpPort?: number | false;
  /** Address to bind both servers to. Default: every interface. */
  hostname?: string;
  /** Serves plain-HTTP requests that are not http-01, instead of the redirect. */
  httpFallback?: RequestListener;
  /** `renewDue` interval in ms. Default one hour; `false` for no timer (renew from elsewhere). */
  renewIntervalMs?: number | false;
  /** Told about each renewal run (see {@link RenewalTimerOptions}). */
  onRenewal?: RenewalTimerOptions["onResult"];
}

/** Servers started by {@link listen}. */
export interface AutoHttps {
  /** The HTTPS server. */
  https: HttpsServer;
  /** The plain-HTTP server, unless `httpPort: false`. */
  http: HttpServer | undefined;
  /** The port HTTPS listens on. */
  httpsPort: number;
  /**  undefined;|The port plain HTTP listens on, when it does. */
  httpPort: number | undefined;
  /** The certificate obtained (or found) at start; later renewals are served without a restart. */
  certificate: ManagedCertificate;
  /** The renewal timer, unless `renewIntervalMs: false`. */
  renewal: RenewalTimer | undefined;
  /** Stops the timer and both servers, dropping open connections. */
  close(): Promise<void>;
}

/**
 * Automatic HTTPS in one call, like autocert's `NewListener`: starts the HTTPS server (certificates
 * from the manager by SNI, renewals picked up per handshake; tls-alpn-01 answered when `tlsAlpn01` is
 * given) and the plain-HTTP server (http-01 answers, 301 to HTTPS), then `manager.manage(names)` so
 * the certificate exists before the first visitor, then a `renewDue` timer (unref'd). Rejects — with
 * both servers closed — when a port cannot be bound or the certificate cannot be obtained.
 */
export async function listen(manager: ListeningManager, options: ListenOptions): Promise<AutoHttps> {
  const https = createHttpsServer(manager, options);
  let http: HttpServer | undefined;
  let renewal: RenewalTimer | undefined;
  const close = async () => {
    renewal?.stop();
    await Promise.all([closeServer(https), http ? closeServer(http) : undefined]);
  };
  try {
    const httpsPort = await listenOn(https, options.httpsPort ?? 443, options.hostname);
    let httpPort: number | undefined;
    if (options.httpPort !== false) {
      http = createHttpServer(httpHandler(manager, options.httpFallback, { httpsPort }));
      httpPort = await listenOn(http, options.httpPort ?? 80, options.hostname);
    }
    const certificate = await manager.manage(options.names);
    if (options.renewIntervalMs !== false) {
      renewal = startRenewalTimer(manager, {
        ...(options.renewIntervalMs === undefined ? {} : { intervalMs: options.renewIntervalMs }),
        ...(options.onRenewal ? { onResult: options.onRenewal } : {}),
      });
    }
    return { https, http, httpsPort, httpPort, certificate, renewal, close };
  } catch (error) {
    await close();
    throw error;
  }
}

function listenOn(server: NetServer, port: number, hostname: string | undefined): Promise<number> {
  return new Promise((resolve, reject) => {
    const onError = (error: Error) => reject(error);
    server.once("error", onError);
    server.listen({ port, ...(hostname === undefined ? {} : { host: hostname }) }, () => {
      server.off("error", onError);
      const address = server.address();
      resolve(typeof address === "object" && address ? address.port : port);
    });
  });
}

function closeServer(server: HttpServer | HttpsServer): Promise<void> {
  if (!server.listening) return Promise.resolve();
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}
