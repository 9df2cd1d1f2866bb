import type { TlsAlpn01Certificate } from "../../webcrypto/tls-alpn-certificate.ts";
import { tlsAlpn01Certificate, tlsAlpn01ServerName } from "../challenge-helpers.ts";
import type { ChallengeContext, Solver } from "../solver.ts";
import type { AcmeChallenge } from "../types.ts";

/**
 * A tls-alpn-01 solver (RFC 8737): `present` builds the challenge certificate, and a TLS server that
 * negotiates ALPN `acme-tls/1` asks {@link certificateFor} with the SNI name of the handshake.
 */
export class TlsAlpn01Solver implements Solver {
  private readonly certificates = new Map<string, TlsAlpn01Certificate>();

  async present(challenge: AcmeChallenge, ctx: ChallengeContext): Promise<void> {
    const cert = await tlsAlpn01Certificate(ctx.identifier, ctx.keyAuthorization);
    this.certificates.set(tlsAlpn01ServerName(ctx.identifier), cert);
  }

  async cleanup(_challenge: AcmeChallenge, ctx: ChallengeContext): Promise<void> {
    this.certificates.delete(tlsAlpn01ServerName(ctx.identifier));
  }

  /** The certificate for an `acme-tls/1` handshake with this SNI name (IPs use their reverse name, RFC 8738 §6). */
  certificateFor(serverName: string): TlsAlpn01Certificate | undefined {
    return this.certificates.get(serverName.toLowerCase().replace(/\.$/, ""));
  }
}
