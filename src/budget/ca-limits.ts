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
   * Renewals without `replaces` — an order for the exact names of a certificate the CA issued lately —
   * spend only the name set's limit, not the account's new orders nor the registered domain's
   * certificates (Let's Encrypt: a certificate for the same identifiers within 120 days).
   */
  readonly renewalsExempt?: boolean;
  /**
   * Public suffixes beyond the built-in Public Suffix List (both its sections; e.g. a platform's suffix
   * newer than the built-in copy): `b.example.app` is then registered under `example.app`.
   */
  readonly publicSuffixes?: readonly string[];
}

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

/**
 * Let's Encrypt production: 300 orders / 3 h / account, 50 / 7 d / registered domain, 5 / 7 d / name
 * set; ARI renewals exempt from all, other renewals of the same names from the first two (Boulder's
 * newOrder: a certificate for the exact identifiers within 120 days).
 */
export const LETS_ENCRYPT_LIMITS: CaLimits = Object.freeze({
  newOrdersPerAccount: { count: 300, periodMs: 3 * HOUR },
  certificatesPerRegisteredDomain: { count: 50, periodMs: 7 * DAY },
  certificatesPerNameSet: { count: 5, periodMs: 7 * DAY },
  replacementsExempt: true,
  renewalsExempt: true,
});

/** Let's Encrypt staging: 1,500 orders / 3 h / account, 30,000 / 7 d per registered domain and per name set. */
export const LETS_ENCRYPT_STAGING_LIMITS: CaLimits = Object.freeze({
  newOrdersPerAccount: { count: 1500, periodMs: 3 * HOUR },
  certificatesPerRegisteredDomain: { count: 30_000, periodMs: 7 * DAY },
  certificatesPerNameSet: { count: 30_000, periodMs: 7 * DAY },
  replacementsExempt: true,
  renewalsExempt: true,
});

/** The published limits of a CA known by its directory URL (Let's Encrypt's two), else undefined: none. */
export function caLimitsFor(directoryUrl: string): CaLimits | undefined {
  if (directoryUrl === LETS_ENCRYPT_PRODUCTION) return LETS_ENCRYPT_LIMITS;
  if (directoryUrl === LETS_ENCRYPT_STAGING) return LETS_ENCRYPT_STAGING_LIMITS;
  return undefined;
}

/** The longest period a limit may have: a year (Let's Encrypt's longest is a week). */
const LONGEST_PERIOD_MS = 366 * DAY;
const LIMIT_FIELDS = ["newOrdersPerAccount", "certificatesPerRegisteredDomain", "certificatesPerNameSet"] as const;
const KNOWN_FIELDS: ReadonlySet<string> = new Set([...LIMIT_FIELDS, "replacementsExempt", "renewalsExempt", "publicSuffixes"]);
const SUFFIX = /^[a-z0-9-]+(\.[a-z0-9-]+)+$/i;

function invalid(field: string, problem: string, value: unknown): EdgecertError {
  const shown = typeof value === "string" ? JSON.stringify(value) : typeof value === "number" ? String(value) : JSON.stringify(value) ?? String(value);
  return new EdgecertError("invalid_input", `${field}: ${problem}, got ${shown.slice(0, 100)}`);
}

/**
 * Checks limits given as an object (the manager's `caLimits`, a `FleetBudget`'s, or read from a config
 * file) and returns them; throws `invalid_input` naming the first bad field, as `<where>.<field>`. Each
 * limit's count must be a whole number from 1, its period a number of ms from 1 to a year; no key
 * beyond {@link CaLimits}' own (a misspelt limit would otherwise be no limit at all). A bad limit
 * would hold every order forever (a count of 0), let every one through unbudgeted (NaN compares
 * false), or make a time no `Date` can show.
 */
export function checkCaLimits(limits: CaLimits, where = "caLimits"): CaLimits {
  if (typeof limits !== "object" || limits === null || Array.isArray(limits)) throw invalid(where, "must be an object of limits", limits);
  for (const key of Object.keys(limits)) {
    if (!KNOWN_FIELDS.has(key)) throw invalid(`${where}.${key}`, `is not a CA limit (${[...KNOWN_FIELDS].join(", ")})`, (limits as Record<string, unknown>)[key]);
  }
  for (const field of LIMIT_FIELDS) {
    const limit: unknown = limits[field];
    if (limit === undefined) continue;
    if (typeof limit !== "object" || limit === null) throw invalid(`${where}.${field}`, "must be { count, periodMs }", limit);
    const { count, periodMs } = limit as Partial<Record<string, unknown>>;
    if (typeof count !== "number" || !Number.isSafeInteger(count) || count < 1) throw invalid(`${where}.${field}.count`, "must be a whole number from 1", count);
    if (typeof periodMs !== "number" || !(periodMs >= 1 && periodMs <= LONGEST_PERIOD_MS)) {
      throw invalid(`${where}.${field}.periodMs`, "must be a number of milliseconds from 1 to a year", periodMs);
    }
  }
  for (const flag of ["replacementsExempt", "renewalsExempt"] as const) {
    if (limits[flag] !== undefined && typeof limits[flag] !== "boolean") throw invalid(`${where}.${flag}`, "must be true or false", limits[flag]);
  }
  const suffixes: unknown = limits.publicSuffixes;
  if (suffixes !== undefined && (!Array.isArray(suffixes) || !suffixes.every((s) => typeof s === "string" && SUFFIX.test(s)))) {
    throw invalid(`${where}.publicSuffixes`, "must be a list of domain names such as myplatform.app", suffixes);
  }
  return limits;
}

const UNITS: Record<string, number> = { s: 1000, m: 60_000, h: HOUR, d: DAY };
const FIELDS = { orders: "newOrdersPerAccount", domain: "certificatesPerRegisteredDomain", nameset: "certificatesPerNameSet" } as const;

/**
 * Reads limits written as text, for a Worker variable or a CLI flag: comma-separated
 * `orders=300/3h`, `domain=50/7d`, `nameset=5/7d`, `replaces=exempt|counted`, `renewals=exempt|counted`, `suffix=example.app`
 * (repeatable); units s, m, h, d. `none` is no limits. Throws `invalid_input` naming the bad part.
 */
export function parseCaLimits(text: string): CaLimits {
  const trimmed = text.trim();
  if (trimmed === "none" || trimmed === "") return {};
  const limits: { -readonly [K in keyof CaLimits]: CaLimits[K] } = {};
  const suffixes: string[] = [];
  const seen = new Set<string>();
  for (const part of trimmed.split(",").map((p) => p.trim())) {
    const [key = "", value = ""] = part.split("=", 2).map((s) => s.trim());
    // A key given twice is a mistake in one of them (the last silently won before): say which.
    if (key !== "suffix" && seen.has(key)) throw new EdgecertError("invalid_input", `CA limits: "${key}" is given twice ("${part}")`);
    seen.add(key);
    if (key === "replaces" && (value === "exempt" || value === "counted")) {
      limits.replacementsExempt = value === "exempt";
      continue;
    }
    if (key === "renewals" && (value === "exempt" || value === "counted")) {
      limits.renewalsExempt = value === "exempt";
      continue;
    }
    if (key === "suffix" && SUFFIX.test(value)) {
      suffixes.push(value.toLowerCase());
      continue;
    }
    const match = /^(\d+)\/(\d+)?([smhd])$/.exec(value);
    const field = key in FIELDS ? FIELDS[key as keyof typeof FIELDS] : undefined;
    const count = match ? Number(match[1]) : NaN;
    const periodMs = match ? Number(match[2] ?? "1") * UNITS[match[3]!]! : NaN;
    if (!field || !(count >= 1) || !Number.isSafeInteger(count) || !(periodMs > 0 && periodMs <= LONGEST_PERIOD_MS)) {
      throw new EdgecertError(
        "invalid_input",
        `CA limits: "${part.slice(0, 100)}" is not one of orders=N/<period>, domain=N/<period>, nameset=N/<period> (period like 3h or 7d, at most a year), replaces=exempt|counted, renewals=exempt|counted, suffix=<domain>, or "none"`,
      );
    }
    limits[field] = { count, periodMs };
  }
  if (suffixes.length) limits.publicSuffixes = suffixes;
  return limits;
}
