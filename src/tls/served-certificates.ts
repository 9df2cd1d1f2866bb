import type { CertificateManager, ManagedCertificate } from "../manager/certificate-manager.ts";
import type { FetchHandler } from "./fetch-http-handler.ts";
import type { RenewalTimer } from "./renewal-timer.ts";

/** What the Bun and Deno helpers need from the manager. */
export type ServingManager = Pick<CertificateManager, "manage" | "getCertificate" | "httpChallengeResponse" | "renewDue">;

/** The certificate served for each name, as of one look-up. */
export interface ServedCertificates {
  /** In the order of the names asked for; the first is also the default (no SNI). */
  byName: Array<{ name: string; certificate: ManagedCertificate }>;
}

/**
 * The certificate the manager serves for each name right now (`getCertificate`, which also starts a
 * background renewal when one is due). Names it has nothing for are left out.
 */
export async function lookUpCertificates(manager: Pick<CertificateManager, "getCertificate">, names: string[]): Promise<ServedCertificates> {
  const byName: ServedCertificates["byName"] = [];
  for (const name of names) {
    const certificate = await manager.getCertificate(name);
    if (certificate) byName.push({ name, certificate });
  }
  return { byName };
}

/** Whether two look-ups serve the same certificates (same serial for every name). */
export function sameCertificates(a: ServedCertificates, b: ServedCertificates): boolean {
  return (
    a.byName.length === b.byName.length &&
    a.byName.every((entry, i) => entry.name === b.byName[i]?.name && entry.certificate.serialNumber === b.byName[i]?.certificate.serialNumber)
  );
}

/** What the Bun and Deno `serveWithCertificates` helpers return. */
export interface ServingWithCertificates {
  /** The HTTPS port. */
  readonly port: number;
  /** The plain-HTTP port, unless `httpPort: false`. */
  readonly httpPort: number | undefined;
  /** The certificate served for the first name. */
  readonly certificate: ManagedCertificate;
  /** Looks for a renewed certificate now and serves it if there is one; true when it did. */
  refresh(): Promise<boolean>;
  /** The renewal timer, unless `renewIntervalMs: false`. */
  readonly renewal: RenewalTimer | undefined;
  /** Stops the timers and servers; `force` also drops open connections. */
  stop(force?: boolean): Promise<void>;
}

/** Options the Bun and Deno `serveWithCertificates` helpers share. */
export interface ServeWithCertificatesCommonOptions {
  /** The names of the one certificate to obtain up front (`manager.manage(names)`) and serve. */
  names: string[];
  /** HTTPS port. Default 443; 0 picks a free port. */
  port?: number;
  /** Address to bind. Default: every interface. */
  hostname?: string;
  /** Plain-HTTP port for http-01 and the redirect to HTTPS. Default 80; `false` for none. */
  httpPort?: number | false;
  /** Serves plain-HTTP requests that are not http-01, instead of the redirect. */
  httpFallback?: FetchHandler;
  /** How often to look for a renewed certificate. Default 60 000 ms (the manager's own cache time). */
  checkIntervalMs?: number;
  /** `renewDue` interval. Default one hour; `false` for no timer. */
  renewIntervalMs?: number | false;
  /** Told about failed checks, swaps and renewal runs. */
  onError?: (error: unknown) => void;
}
