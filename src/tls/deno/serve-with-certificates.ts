import type { ManagedCertificate } from "../../manager/certificate-manager.ts";
import { acmeHttpHandler, type FetchHandler } from "../fetch-http-handler.ts";
import { startPeriodicTask, type PeriodicTask } from "../periodic-task.ts";
import { startRenewalTimer, type RenewalTimer } from "../renewal-timer.ts";
import { retryBind } from "../retry-bind.ts";
import type { ServeWithCertificatesCommonOptions, ServingManager, ServingWithCertificates } from "../served-certificates.ts";

// The slice of Deno's API used here, declared structurally so this file typechecks with Node's types.

/** A TCP address as `Deno.serve` reports it. */
export interface DenoNetAddr {
  /** `tcp`. */
  transport: string;
  /** The address. */
  hostname: string;
  /** The port. */
  port: number;
}

/** The second argument of a `Deno.serve` handler. */
export interface DenoServeHandlerInfo {
  /** The client's address. */
  remoteAddr: DenoNetAddr;
  /** Settles when the response was sent. */
  completed: Promise<void>;
}

/** A `Deno.serve` handler. */
export type DenoServeHandler = (request: Request, info: DenoServeHandlerInfo) => Response | Promise<Response>;

/** The slice of `Deno.HttpServer` this helper uses. */
export interface DenoHttpServer {
  /** Where it listens. */
  readonly addr: DenoNetAddr;
  /** Settles when it has shut down. */
  readonly finished: Promise<void>;
  /** Stops accepting and finishes open requests. */
  shutdown(): Promise<void>;
}

/** The slice of `Deno` this helper calls. */
export interface DenoRuntime {
  /** `Deno.serve`. */
  serve(
    options: {
      port: number;
      hostname?: string;
      cert?: string;
      key?: string;
      reusePort?: boolean;
      signal?: AbortSignal;
      onListen?: (addr: DenoNetAddr) => void;
      [option: string]: unknown;
    },
    handler: DenoServeHandler,
  ): DenoHttpServer;
}

/** Options for {@link serveWithCertificates}. */
export interface DenoServeWithCertificatesOptions extends ServeWithCertificatesCommonOptions {
  /** Serves HTTPS requests. */
  handler: DenoServeHandler;
  /**
   * Start the renewed server beside the old one (SO_REUSEPORT) before stopping the old one, so the
   * port never stops accepting. Deno 2.9 allows `reusePort` on TLS listeners only with
   * `--unstable-net` (without it, Deno exits the process), so this is off by default: the old server
   * is then shut down first and the port bound again, refusing new connections for a few ms.
   */
  reusePort?: boolean;
  /** Other `Deno.serve` options for the HTTPS server (`onError`, …). */
  serve?: Record<string, unknown>;
  /** The Deno runtime object. Default `globalThis.Deno`. */
  deno?: DenoRuntime;
}

/** What {@link serveWithCertificates} returns (the same as the Bun helper). */
export type DenoServingWithCertificates = ServingWithCertificates;

/** A started server with the switch that force-closes it. */
interface Running {
  server: DenoHttpServer;
  abort: AbortController;
}

/**
 * Automatic HTTPS for Deno: obtains the certificate (`manager.manage(names)`, answering http-01 on
 * `httpPort`), serves it with `Deno.serve({ cert, key })`, and re-serves when it is renewed.
 *
 * `Deno.serve` takes one certificate and cannot change it, so a renewal means a new server on the
 * same port: with `reusePort` (needs `--unstable-net`) the new one listens before the old one shuts
 * down gracefully (a connection queued on the old listener as it closes may still be reset, as in
 * Bun); otherwise the old one shuts down first (in-flight requests still finish). One
 * certificate, no SNI selection: every name must be on it (`manage(names)` makes it so). tls-alpn-01
 * is not available (Deno's TLS options cannot pick a certificate by ALPN): use http-01 or dns-01. For
 * per-handshake certificate selection in Deno (several certificates, renewals without a re-serve),
 * `edgecert/tls/node`'s `listen` runs on Deno's `node:https`.
 */
export async function serveWithCertificates(manager: ServingManager, options: DenoServeWithCertificatesOptions): Promise<DenoServingWithCertificates> {
  const deno = options.deno ?? (globalThis as { Deno?: DenoRuntime }).Deno;
  if (!deno) throw new Error("edgecert/tls/deno: Deno.serve is not available in this runtime");
  const onError = options.onError ?? (() => {});
  const name = options.names[0];
  if (name === undefined) throw new Error("edgecert/tls/deno: names must not be empty");
  const hostname = options.hostname === undefined ? {} : { hostname: options.hostname };
  let httpsPort = options.port ?? 443;
  let http: Running | undefined;
  let current: Running | undefined;
  let checker: PeriodicTask<boolean> | undefined;
  let renewal: RenewalTimer | undefined;

  const close = async (running: Running | undefined, force: boolean) => {
    if (!running) return;
    if (force) running.abort.abort();
    else await running.server.shutdown();
    await running.server.finished;
  };
  const stop = async (force = false) => {
    checker?.stop();
    renewal?.stop();
    await Promise.all([close(current, force), close(http, force)]);
  };

  try {
    if (options.httpPort !== false) {
      const abort = new AbortController();
      // The redirect target is read per request: with port 0 the HTTPS port is known only later.
      const server = deno.serve({ port: options.httpPort ?? 80, ...hostname, signal: abort.signal, onListen: () => {} }, (request) =>
        acmeHttpHandler(manager, { httpsPort, ...(options.httpFallback ? { fallback: options.httpFallback } : {}) })(request),
      );
      http = { server, abort };
    }
    let certificate = await manager.manage(options.names);
    const start = (served: ManagedCertificate): Running => {
      const abort = new AbortController();
      const server = deno.serve(
        {
          onListen: () => {},
          ...options.serve,
          port: httpsPort,
          ...hostname,
          cert: served.chainPem,
          key: served.keyPem,
          signal: abort.signal,
          ...(options.reusePort ? { reusePort: true } : {}),
        },
        options.handler,
      );
      return { server, abort };
    };
    current = start(certificate);
    httpsPort = current.server.addr.port;

    const swap = async (): Promise<boolean> => {
      const next = await manager.getCertificate(name);
      if (!next || (current && next.serialNumber === certificate.serialNumber)) return false;
      const old = current;
      if (options.reusePort || !old) {
        current = start(next);
        if (old) void old.server.shutdown().catch(onError);
      } else {
        // Without SO_REUSEPORT the port must be free first; shutdown closes the listener at once and
        // lets requests in flight finish.
        current = undefined;
        void old.server.shutdown().catch(onError);
        current = await retryBind(() => start(next));
      }
      certificate = next;
      return true;
    };
    checker = startPeriodicTask(() => swap(), options.checkIntervalMs ?? 60_000, onError);
    if (options.renewIntervalMs !== false) {
      renewal = startRenewalTimer(manager, { ...(options.renewIntervalMs === undefined ? {} : { intervalMs: options.renewIntervalMs }), onError });
    }
    const runningChecker = checker;
    return {
      port: httpsPort,
      httpPort: http?.server.addr.port,
      get certificate() {
        return certificate;
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
