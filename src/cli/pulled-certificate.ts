/**
 * What `edgecert pull` installs, checked before anything touches the disk. The hub's JSON is not
 * trusted to describe its own certificate: its serial names a directory, so a hub (or anything that
 * answers in its place) could otherwise write outside `--out`, install a key that does not open the
 * certificate, a certificate for other names, or roll a server back to an older certificate. Every
 * field that is installed or names a file comes from the certificate itself, after these checks.
 * @module
 */
import type { ManagedCertificate } from "../manager/managed-certificate.ts";
import { hostAllowList } from "../manager/host-policy.ts";
import { importPrivateKeyPem } from "../webcrypto/keys.ts";
import { splitPemChain } from "../webcrypto/pem.ts";
import { formatSerial } from "../webcrypto/serial.ts";
import { certificateMatchesKey, parseCertificate, type CertificateInfo } from "../webcrypto/x509.ts";
import { CliError, ExitCode } from "./exit-codes.ts";

/** The hub's answer for one certificate (GET /v1/certificates/<name>), as it claims to be. */
export interface PulledCertificate {
  id: string;
  names: string[];
  serialNumber: string;
  issuer: string;
  notBefore: string;
  notAfter: string;
  nextRenewalAt: string;
  chainPem: string;
  privateKeyPem?: string;
  sealedPrivateKey?: unknown;
}

/** Why an answer is refused: the first word of the refusal's message, stable for scripts. */
export type PullRefusalReason = "malformed_answer" | "invalid_serial" | "malformed_chain" | "key_mismatch" | "name_not_covered" | "expired" | "older_than_live";

/** A hub answer `edgecert pull` will not install (exit 1; nothing on disk changed). */
export class PullRefusal extends CliError {
  constructor(
    readonly reason: PullRefusalReason,
    detail: string,
  ) {
    super(`refused the hub's answer (${reason}): ${detail}; nothing was installed`, ExitCode.failed);
    this.name = "PullRefusal";
  }
}

/**
 * RFC 5280 §4.1.2.2: a serial is a positive INTEGER of at most 20 octets. As hex, with or without
 * the DER sign byte: 1 to 42 hex digits and nothing else — which also makes it a safe directory name.
 */
const SERIAL_HEX = /^[0-9A-Fa-f]{1,42}$/;

/** Checks the shape of the answer: every field that is used is there with its type. */
export function readPulledAnswer(body: unknown): PulledCertificate {
  const b = body as Record<string, unknown> | null;
  const strings = ["id", "serialNumber", "chainPem", "nextRenewalAt"] as const;
  if (typeof b !== "object" || b === null || Array.isArray(b)) throw new PullRefusal("malformed_answer", "it is not a JSON object");
  for (const k of strings) if (typeof b[k] !== "string") throw new PullRefusal("malformed_answer", `${k} is not a string`);
  if (b.privateKeyPem !== undefined && typeof b.privateKeyPem !== "string") throw new PullRefusal("malformed_answer", "privateKeyPem is not a string");
  if (!Number.isFinite(Date.parse(b.nextRenewalAt as string))) throw new PullRefusal("malformed_answer", "nextRenewalAt is not a date");
  // The sealing context carries the id and the serial as sent: both must be plain tokens.
  if (!/^[A-Za-z0-9._-]{1,100}$/.test(b.id as string)) throw new PullRefusal("malformed_answer", "id is not a certificate id");
  if (!SERIAL_HEX.test(b.serialNumber as string)) throw new PullRefusal("invalid_serial", `serialNumber ${JSON.stringify((b.serialNumber as string).slice(0, 64))} is not a certificate serial in hex (RFC 5280 §4.1.2.2)`);
  return b as unknown as PulledCertificate;
}

/** The chain's certificates, parsed (leaf first); a refusal when any block is not a certificate. */
function parseChain(chainPem: string): CertificateInfo[] {
  try {
    return splitPemChain(chainPem).map((pem) => parseCertificate(pem));
  } catch (err) {
    throw new PullRefusal("malformed_chain", `chainPem does not parse: ${err instanceof Error ? err.message : String(err)}`);
  }
}

/**
 * Whether `candidate` is older than `live`: it starts no later and ends no later, and one of the two
 * strictly earlier — what a replayed or rolled-back certificate looks like. A renewal that starts
 * later but ends sooner (a shorter-lived profile) is not older, nor is another certificate that
 * ends later (the hub's serving rule prefers the latest notAfter), so neither is refused.
 */
function isOlder(candidate: CertificateInfo, live: CertificateInfo): boolean {
  if (formatSerial(candidate.serialNumber) === formatSerial(live.serialNumber) && candidate.issuer === live.issuer) return false;
  const starts = candidate.notBefore.getTime() - live.notBefore.getTime();
  const ends = candidate.notAfter.getTime() - live.notAfter.getTime();
  return starts <= 0 && ends <= 0 && (starts < 0 || ends < 0);
}

/**
 * The certificate to install, from a checked answer and its (opened) private key: the serial is the
 * leaf's and matches the answer's, the key opens the leaf, the leaf covers `name` (exactly or by a
 * one-label wildcard, RFC 6125 §6.4.3), it has not expired, every chain block parses, and it is not
 * older than `livePem` (what `live/<cert-name>/cert.pem` holds now, if anything). Otherwise a
 * {@link PullRefusal}.
 */
export async function checkPulled(answer: PulledCertificate, keyPem: string, o: { name: string; livePem: string | undefined; now: number; directoryUrl: string }): Promise<ManagedCertificate> {
  const [leaf] = parseChain(answer.chainPem);
  if (!leaf) throw new PullRefusal("malformed_chain", "chainPem has no certificate");
  const serial = formatSerial(leaf.serialNumber);
  if (formatSerial(answer.serialNumber) !== serial) throw new PullRefusal("invalid_serial", `serialNumber ${answer.serialNumber} is not the certificate's (${serial})`);
  let matches = false;
  try {
    matches = await certificateMatchesKey(leaf, await importPrivateKeyPem(keyPem));
  } catch (err) {
    throw new PullRefusal("key_mismatch", `the private key does not load: ${err instanceof Error ? err.message : String(err)}`);
  }
  if (!matches) throw new PullRefusal("key_mismatch", `the private key is not the key of certificate ${serial}`);
  const names = [...leaf.dnsNames, ...leaf.ipAddresses];
  let covered = false;
  try {
    covered = names.length > 0 && (await hostAllowList(...names)(o.name));
  } catch {
    covered = false;
  }
  if (!covered) throw new PullRefusal("name_not_covered", `certificate ${serial} is for ${names.join(", ") || "no names"}, not ${o.name}`);
  if (leaf.notAfter.getTime() <= o.now) throw new PullRefusal("expired", `certificate ${serial} expired at ${leaf.notAfter.toISOString()}`);
  if (o.livePem !== undefined) {
    let live: CertificateInfo | undefined;
    try {
      live = parseCertificate(o.livePem);
    } catch {
      live = undefined; // An unreadable live file is replaced, not a reason to keep it.
    }
    if (live && isOlder(leaf, live)) {
      throw new PullRefusal(
        "older_than_live",
        `certificate ${serial} (${leaf.notBefore.toISOString()} – ${leaf.notAfter.toISOString()}) is older than the live ${formatSerial(live.serialNumber)} (${live.notBefore.toISOString()} – ${live.notAfter.toISOString()})`,
      );
    }
  }
  const next = new Date(Date.parse(answer.nextRenewalAt));
  return {
    id: answer.id,
    names,
    chainPem: answer.chainPem,
    keyPem,
    notBefore: leaf.notBefore,
    notAfter: leaf.notAfter,
    serialNumber: serial,
    issuer: leaf.issuer,
    directoryUrl: o.directoryUrl,
    renewAt: next,
    nextCheckAt: next,
  };
}
