import { LETS_ENCRYPT_PRODUCTION, LETS_ENCRYPT_STAGING } from "../acme/constants.ts";
import { EdgecertError } from "../errors.ts";

/** `count` requests per `periodMs`, refilled continuously (a token bucket holding at most `count`). */
export interface RateLimit {
  /** Bucket size: this many at once from a full bucket. */
  readonly count: number;
  /** The time the bucket takes to refill from empty; one token comes back every `periodMs / count`. */
  readonly periodMs: number;
}

/**
 * A CA's issuance limits, as the fleet-wide budget spends them. A missing limit is not enforced.
 * Let's Encrypt's are documented at https://letsencrypt.org/docs/rate-limits/.
 */
export interface CaLimits {
  /** New orders per account ("New Orders per Account"). */
  readonly newOrdersPerAccount?: RateLimit;
  /**
   * Certificates per registered domain, across every account ("Certificates per Registered Domain");
   * a certificate spends one from each registered domain among its names.
   */
  readonly certificatesPerRegisteredDomain?: RateLimit;
  /** Certificates per identical set of names ("New Certificates per Exact Set of Identifiers"). */
  readonly certificatesPerNameSet?: RateLimit;
  /** Renewals that name the certificate they replace (ARI `replaces`, RFC 9773 §5) spend nothing. */
  readonly replacementsExempt?: boolean;
  /**
   * Public suffixes beyond the built-in ICANN list, for registered domains (e.g. a platform's entry in
   * the Public Suffix List's private section): `b.example.app` is then registered under `example.app`.
   */
  readonly publicSuffixes?: readonly string[];
}

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

/** Let's Encrypt production: 300 orders / 3 h / account, 50 / 7 d / registered domain, 5 / 7 d / name set; ARI renewals exempt. */
export const LETS_ENCRYPT_LIMITS: CaLimits = Object.freeze({
  newOrdersPerAccount: { count: 300, periodMs: 3 * HOUR },
  certificatesPerRegisteredDomain: { count: 50, periodMs: 7 * DAY },
  certificatesPerNameSet: { count: 5, periodMs: 7 * DAY },
  replacementsExempt: true,
});

/** Let's Encrypt staging: 1,500 orders / 3 h / account, 30,000 / 7 d per registered domain and per name set. */
export const LETS_ENCRYPT_STAGING_LIMITS: CaLimits = Object.freeze({
  newOrdersPerAccount: { count: 1500, periodMs: 3 * HOUR },
  certificatesPerRegisteredDomain: { count: 30_000, periodMs: 7 * DAY },
  certificatesPerNameSet: { count: 30_000, periodMs: 7 * DAY },
  replacementsExempt: true,
});

/** The published limits of a CA known by its directory URL (Let's Encrypt's two), else undefined: none. */
export function caLimitsFor(directoryUrl: string): CaLimits | undefined {
  if (directoryUrl === LETS_ENCRYPT_PRODUCTION) return LETS_ENCRYPT_LIMITS;
  if (directoryUrl === LETS_ENCRYPT_STAGING) return LETS_ENCRYPT_STAGING_LIMITS;
  return undefined;
}

const UNITS: Record<string, number> = { s: 1000, m: 60_000, h: HOUR, d: DAY };
const FIELDS = { orders: "newOrdersPerAccount", domain: "certificatesPerRegisteredDomain", nameset: "certificatesPerNameSet" } as const;

/**
 * Reads limits written as text, for a Worker variable or a CLI flag: comma-separated
 * `orders=300/3h`, `domain=50/7d`, `nameset=5/7d`, `replaces=exempt|counted`, `suffix=example.app`
 * (repeatable); units s, m, h, d. `none` is no limits. Throws `invalid_input` naming the bad part.
 */
export function parseCaLimits(text: string): CaLimits {
  const trimmed = text.trim();
  if (trimmed === "none" || trimmed === "") return {};
  const limits: { -readonly [K in keyof CaLimits]: CaLimits[K] } = {};
  const suffixes: string[] = [];
  for (const part of trimmed.split(",").map((p) => p.trim())) {
    const [key = "", value = ""] = part.split("=", 2).map((s) => s.trim());
    if (key === "replaces" && (value === "exempt" || value === "counted")) {
      limits.replacementsExempt = value === "exempt";
      continue;
    }
    if (key === "suffix" && /^[a-z0-9-]+(\.[a-z0-9-]+)+$/i.test(value)) {
      suffixes.push(value.toLowerCase());
      continue;
    }
    const match = /^(\d+)\/(\d+)?([smhd])$/.exec(value);
    const field = key in FIELDS ? FIELDS[key as keyof typeof FIELDS] : undefined;
    const count = match ? Number(match[1]) : NaN;
    const periodMs = match ? Number(match[2] ?? "1") * UNITS[match[3]!]! : NaN;
    if (!field || !(count >= 1) || !Number.isSafeInteger(count) || !(periodMs > 0)) {
      throw new EdgecertError(
        "invalid_input",
        `CA limits: "${part}" is not one of orders=N/<period>, domain=N/<period>, nameset=N/<period> (period like 3h or 7d), replaces=exempt|counted, suffix=<domain>, or "none"`,
      );
    }
    limits[field] = { count, periodMs };
  }
  if (suffixes.length) limits.publicSuffixes = suffixes;
  return limits;
}
