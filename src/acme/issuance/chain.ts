import { splitPemChain } from "../../webcrypto/pem.ts";
import { parseCertificate } from "../../webcrypto/x509.ts";
import type { CertificateChain } from "../types.ts";
import { runStep, type IssuanceContext } from "./context.ts";

/** Which of several offered chains to keep (RFC 8555 §7.4.2 alternates). */
export type PreferredChain = string | { issuerCommonName?: string; smallest?: boolean };

/** One chain the CA offered. */
export interface IssuedChain {
  /** The full chain, leaf first, as PEM. */
  chainPem: string;
  /** Common name of the topmost certificate's issuer (the root the chain leads to). */
  issuerCommonName: string | undefined;
  /** Where the chain was downloaded from. */
  url: string;
}

/** Downloads the certificate and every alternate chain the CA links (RFC 8555 §7.4.2), default first. */
export async function downloadChains(ctx: IssuanceContext, certificateUrl: string): Promise<IssuedChain[]> {
  const started = Date.now();
  const chain = await runStep(ctx, "download", () =>
    ctx.client.downloadCertificate(certificateUrl, { alternates: true, signal: ctx.signal }),
  );
  const chains = [chain, ...(chain.alternates ?? [])].map(describeChain);
  ctx.progress({ type: "downloaded", certificateUrl, chains: chains.length, durationMs: Date.now() - started });
  return chains;
}

/** Describes a chain; its issuer is parsed on first read (a single offered chain never needs it). */
export function describeChain(chain: CertificateChain): IssuedChain {
  let issuer: { cn: string | undefined } | undefined;
  return {
    chainPem: chain.pem,
    url: chain.url,
    get issuerCommonName() {
      if (!issuer) {
        const certs = splitPemChain(chain.pem);
        issuer = { cn: parseCertificate(certs[certs.length - 1]!).issuerCommonName };
      }
      return issuer.cn;
    },
  };
}

/**
 * The chain to serve. `issuerCommonName` matches the issuer of each chain's topmost certificate — the
 * root it leads to — not an issuer anywhere in it: a chain through a cross-signed "ISRG Root X1"
 * leads to "DST Root CA X3", and preferring "ISRG Root X1" must pick the chain that ends at it.
 * Without a match, `smallest` picks the shortest PEM; otherwise the CA's default (the first) is kept.
 */
export function chooseChain(chains: IssuedChain[], preferred: PreferredChain | undefined): IssuedChain {
  if (preferred === undefined) return chains[0]!;
  const wanted = typeof preferred === "string" ? { issuerCommonName: preferred } : preferred;
  if (wanted.issuerCommonName !== undefined) {
    const match = chains.find((c) => c.issuerCommonName === wanted.issuerCommonName);
    if (match) return match;
  }
  if (wanted.smallest) return chains.reduce((a, b) => (b.chainPem.length < a.chainPem.length ? b : a));
  return chains[0]!;
}
