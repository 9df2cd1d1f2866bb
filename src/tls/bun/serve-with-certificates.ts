import type { ManagedCertificate } from "../../manager/certificate-manager.ts";
import { acmeHttpHandler, type FetchHandler } from "../fetch-http-handler.ts";
import { startPeriodicTask, type PeriodicTask } from "../periodic-task.ts";
import { startRenewalTimer, type RenewalTimer } from "../renewal-timer.ts";
import { retryBind } from "../retry-bind.ts";
import { lookUpCertificates, sameCertificates, type ServedCertificates, type ServeWithCertificatesCommonOptions, type ServingManager, type ServingWithCertificates } from "../served-certificates.ts";

export type { ServingWithCertificates };

// The slice of Bun's API used here, declared structurally so this file typechecks without bun-types.

/** One entry of `Bun.serve({ tls: [...] })`. */
export interface BunTlsEntry {
  /** The SNI name this entry serves. */
  serverName: string;
  /** The chain, PEM. */
  cert: string;
  /** The key, PEM. */
  key: string;
}

/** The slice of a Bun `Server` this helper uses (a real one has much more). */
export interface BunServer {
  /** The port it listens on. */
  readonly port?: number;
  /** Stops listening (and, if asked, closes open connections). */
  stop(closeActiveConnections?: boolean): unknown;
}

/** A Bun `fetch` handler: the request and Bun's `Server` (for `server.upgrade`, `requestIP`, …). */
export type BunFetchHandler = (request: Request, server: BunServer) => Response | undefined | Promise<Response | undefined>;

/** The slice of `Bun` this helper calls. */
export interface BunRuntime {
  /** `Bun.serve`. */
  serve(options: {
    port: number;
    hostname?: string;
    reusePort?: boolean;
    tls?: BunTlsEntry[];
    fetch: BunFetchHandler;
    [option: string]: unknown;
  }): BunServer;
}

/** Options for {@link serveWithCertificates}. */
export interface BunServeWithCertificatesOptions extends ServeWithCertificatesCommonOptions {
  /** Serves HTTPS requests. */
  fetch: BunFetchHandler;
  /** Other `Bun.serve` options for the HTTPS server (`websocket`, `error`, `idleTimeout`, …). */
  serve?: Record<string, unknown>;
  /** The Bun runtime object. Default `globalThis.Bun`. */
  bun?: BunRuntime;
}

/**
 * Automatic HTTPS for Bun: obtains the certificate (`manager.manage(names)`, answering http-01 on
 * `httpPort`), serves it with `Bun.serve({ tls: [{ serverName, cert, key }, …] })` (one entry per
 * name; the first also answers clients without SNI), and swaps in renewed certificates.
 *
 * Why a swap rather than `server.reload()`: Bun's `reload` replaces handlers but keeps the TLS
 * configuration. So a renewed certificate starts a second server on the same port with
 * `reusePort: true` (SO_REUSEPORT), and only then is the old one stopped gracefully — the port never
 * stops accepting. A connection the kernel queued on the old listener in the instant it closes is
 * reset (Linux drops that queue unless `net.ipv4.tcp_migrate_req=1`); clients retry. Where
 * SO_REUSEPORT is not available the old server is stopped first (a brief gap). tls-alpn-01 is not
 * available in Bun (its TLS options cannot pick a certificate by ALPN): use http-01 or dns-01.
 * `edgecert/tls/node` does not run on Bun 1.4: its `node:tls` fails asynchronous `SNICallback`s.
 */
export async function serveWithCertificates(manager: ServingManager, options: BunServeWithCertificatesOptions): Promise<ServingWithCertificates> {
  const bun = options.bun ?? (globalThis as { Bun?: BunRuntime }).Bun;
  if (!bun) throw new Error("edgecert/tls/bun: Bun.serve is not available in this runtime");
  const onError = options.onError ?? (() => {});
  let httpsPort = options.port ?? 443;
  let httpServer: BunServer | undefined;
  let server: BunServer | undefined;
  let checker: PeriodicTask<boolean> | undefined;
  let renewal: RenewalTimer | undefined;

  const stop = async (force = false) => {
    checker?.stop();
    renewal?.stop();
    await Promise.all([server?.stop(force), httpServer?.stop(force)]);
  };

  try {
    if (options.httpPort !== false) {
      // The redirect target is read per request: with port 0 the HTTPS port is known only later.
      httpServer = bun.serve({
        port: options.httpPort ?? 80,
        ...(options.hostname === undefined ? {} : { hostname: options.hostname }),
        fetch: (request) =>
          acmeHttpHandler(manager, { httpsPort, ...(options.httpFallback ? { fallback: options.httpFallback } : {}) })(request),
      });
    }
    await manager.manage(options.names);
    let served = await lookUpCertificates(manager, options.names);
    const start = (certificates: ServedCertificates): BunServer => {
      const entries = certificates.byName.map(({ name, certificate }) => ({ serverName: name, cert: certificate.chainPem, key: certificate.keyPem }));
      if (entries.length === 0) throw new Error(`edgecert/tls/bun: no certificate for ${options.names.join(", ")}`);
      return bun.serve({
        ...options.serve,
        port: httpsPort,
        ...(options.hostname === undefined ? {} : { hostname: options.hostname }),
        reusePort: true,
        tls: entries,
        fetch: options.fetch,
      });
    };
    server = start(served);
    httpsPort = server.port ?? httpsPort;

    const swap = async (): Promise<boolean> => {
      const next = await lookUpCertificates(manager, options.names);
      if (next.byName.length === 0 || (server && sameCertificates(next, served))) return false;
      const old = server;
      let started: BunServer | undefined;
      try {
        started = start(next);
      } catch (error) {
        if (!old) throw error;
      }
      if (!started) {
        // No SO_REUSEPORT here: free the port, then bind again (new connections are refused meanwhile).
        server = undefined;
        void Promise.resolve(old!.stop(false)).catch(onError);
        started = await retryBind(() => start(next));
      } else if (old) {
        // Graceful: requests in flight on the old server finish; new connections reach the new one.
        void Promise.resolve(old.stop(false)).catch(onError);
      }
      server = started;
      served = next;
      return true;
    };
    checker = startPeriodicTask(() => swap(), options.checkIntervalMs ?? 60_000, onError);
    if (options.renewIntervalMs !== false) {
      renewal = startRenewalTimer(manager, { ...(options.renewIntervalMs === undefined ? {} : { intervalMs: options.renewIntervalMs }), onError });
    }
    const httpPort = httpServer?.port;
    const runningChecker = checker;
    return {
      port: httpsPort,
      httpPort,
      get certificate() {
        return served.byName[0]!.certificate;
      },
      refresh: () => runningChecker.runNow(),
      renewal,
      stop,
    };
  } catch (error) {
    await stop(true);
    throw error;
  }
}
