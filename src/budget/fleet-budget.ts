import { EdgecertError } from "../errors.ts";
import type { Storage, StorageEntry } from "../storage/storage.ts";
import { base64urlEncode } from "../webcrypto/base64url.ts";
import { checkCaLimits, type CaLimits, type RateLimit } from "./ca-limits.ts";
import { loadPublicSuffixRules } from "./public-suffix-source.ts";
import { registeredDomainBy } from "./registered-domain.ts";
import { available, countedFrom, paused, refund, spend, underLimit, type BucketState } from "./token-bucket.ts";

/** Which limit a bucket spends. */
export type BucketKind = "orders" | "domain" | "nameset";

/** One bucket of the budget: a limit and what it counts (an account, a registered domain, a name set). */
export interface BucketRef {
  /** Which limit. */
  readonly kind: BucketKind;
  /** The account URL, the registered domain, or the name set's id. */
  readonly subject: string;
  /** Its storage key. */
  readonly key: string;
  /** The limit it enforces. */
  readonly limit: RateLimit;
  /** In a granted spend: the spend's number in this bucket (see {@link FleetBudget.issued}). */
  readonly seq?: number;
}

/** One order the budget is asked for. */
export interface BudgetRequest {
  /** The ACME account URL the order is sent with. */
  readonly account: string;
  /** The certificate's names (DNS names, `*.` wildcards, IP addresses). */
  readonly names: readonly string[];
  /** A stable id of the name set (whatever the order of names). */
  readonly nameSetId: string;
  /** The order names the certificate it replaces (ARI, RFC 9773 §5). */
  readonly replaces?: boolean;
  /** The order renews a certificate this CA issued lately for exactly these names (see `CaLimits.renewalsExempt`). */
  readonly renewal?: boolean;
  /**
   * Only these kinds of bucket (default: every kind the limits have). Another order for an issuance
   * whose certificate is already budgeted — a retry after validation failed — spends only `orders`:
   * the CA counts each newOrder, but spends the per-issuance limits once, when it issues.
   */
  readonly kinds?: readonly BucketKind[];
}

/** The budget's answer. */
export type BudgetDecision =
  | { readonly granted: true; readonly spent: readonly BucketRef[] }
  | {
      readonly granted: false;
      /** Earliest time every blocking bucket holds a token again. */
      readonly retryAt: number;
      /** The buckets that refused, each with its own time. */
      readonly blocked: ReadonlyArray<{ readonly bucket: BucketRef; readonly retryAt: number }>;
    };

/** What a bucket holds now, for views (admin API, dashboard, `edgecert list`). */
export interface BucketView {
  /** Which limit. */
  readonly kind: BucketKind;
  /** The account URL, registered domain or name set id it counts. */
  readonly subject: string;
  /** Tokens it holds now. */
  readonly available: number;
  /** The limit it enforces. */
  readonly limit: RateLimit;
  /** Paused by a CA's refusal until this time (epoch ms), when it is. */
  readonly pausedUntil?: number;
}

/** Attempts at one all-or-nothing spend when other processes write the same buckets meanwhile. */
const MAX_SPEND_ATTEMPTS = 16;

const encoder = new TextEncoder();

async function shortHash(text: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", encoder.encode(text));
  return base64urlEncode(new Uint8Array(digest).subarray(0, 12));
}

/** Hashes of subjects seen lately: an account URL is hashed once, not once per order (100,000 orders: 100,000 digests). */
const HASH_CACHE_LIMIT = 10_000;

/** A bucket's stored state as `limit` counts it at `now` (see `underLimit`). */
function decode(entry: StorageEntry | undefined, limit: RateLimit, now: number): BucketState | undefined {
  if (!entry) return undefined;
  try {
    const parsed = JSON.parse(new TextDecoder().decode(entry.value)) as { tat?: unknown; pausedUntil?: unknown; n?: unknown; interval?: unknown };
    if (typeof parsed.tat !== "number" || !Number.isFinite(parsed.tat)) return undefined;
    return underLimit(limit, {
      tat: parsed.tat,
      ...(typeof parsed.pausedUntil === "number" ? { pausedUntil: parsed.pausedUntil } : {}),
      ...(typeof parsed.n === "number" && Number.isSafeInteger(parsed.n) ? { n: parsed.n } : {}),
      ...(typeof parsed.interval === "number" && Number.isFinite(parsed.interval) ? { interval: parsed.interval } : {}),
    }, now);
  } catch {
    // A damaged bucket record is treated as an empty history: the CA still enforces its limits.
    return undefined;
  }
}

/** A bucket's state, with the limit it is counted under. */
function encode(state: BucketState, limit: RateLimit): string {
  return JSON.stringify({ ...state, interval: limit.periodMs / limit.count });
}

/** Options for {@link FleetBudget}. */
export interface FleetBudgetOptions {
  /** The storage every process of the fleet shares: the buckets live there. */
  readonly storage: Storage;
  /** The CA's limits (see `caLimitsFor`, `parseCaLimits`). */
  readonly limits: CaLimits;
  /** A short id of the CA, e.g. the manager's issuer key: one budget per CA. */
  readonly ca: string;
  /** Clock (tests). Default `Date.now`. */
  readonly now?: () => number;
  /**
   * How much later than its spend an order may reach the CA (lock, storage, one round trip); spends
   * from a full bucket count as made this much later (see `spend`), so the CA's bucket, which
   * refills only from when the order arrives, is never behind the budget. Default 1 000 ms.
   */
  readonly sendMarginMs?: number;
}

/**
 * The CA's limits as one budget shared by every process on the same storage (ARCHITECTURE.md,
 * invariant 10). Each bucket is one record spent by compare-and-set, and an order is budgeted only
 * when every bucket it needs is spent: a process that loses a race re-reads and tries again, and one
 * that crashes between two spends leaves tokens spent, never an order sent beyond the budget. A
 * refusal from the CA ({@link pause}) stops the bucket for the whole fleet until its `Retry-After`.
 */
export class FleetBudget {
  /** The limits this budget spends. */
  readonly limits: CaLimits;
  /** The shared storage the buckets (and the fair queue, see `FairQueue`) live in. */
  readonly storage: Storage;
  /** Where this CA's records live in the storage: `budget/<ca>`. */
  readonly prefix: string;
  /** See {@link FleetBudgetOptions.sendMarginMs}. */
  readonly marginMs: number;
  private readonly now: () => number;
  private readonly suffixes: ReadonlySet<string>;
  readonly #hashes = new Map<string, string>();

  /** A budget over `options.storage` for one CA. */
  constructor(options: FleetBudgetOptions) {
    this.marginMs = options.sendMarginMs ?? 1000;
    this.storage = options.storage;
    this.limits = checkCaLimits(options.limits, "limits");
    this.prefix = `budget/${options.ca.replace(/[^A-Za-z0-9.-]+/g, "_") || "ca"}`;
    this.now = options.now ?? Date.now;
    this.suffixes = new Set((options.limits.publicSuffixes ?? []).map((s) => s.toLowerCase()));
  }

  /** The registered domain `name` counts under (see `registeredDomain`), with the limits' own suffixes. */
  async registeredDomain(name: string): Promise<string> {
    return registeredDomainBy(await loadPublicSuffixRules(), name, this.suffixes);
  }

  /** The buckets an order spends (none for an exempt replacement). */
  async bucketsFor(request: BudgetRequest): Promise<BucketRef[]> {
    if (request.replaces && this.limits.replacementsExempt) return [];
    const refs: BucketRef[] = [];
    // A renewal of the same names, where the CA exempts it, spends the name set's limit only.
    const renewalExempt = request.renewal === true && this.limits.renewalsExempt === true;
    const want = (kind: BucketKind) => (request.kinds === undefined || request.kinds.includes(kind)) && (!renewalExempt || kind === "nameset");
    const { newOrdersPerAccount, certificatesPerRegisteredDomain, certificatesPerNameSet } = this.limits;
    if (newOrdersPerAccount && want("orders")) refs.push(await this.ref("orders", request.account, newOrdersPerAccount));
    if (certificatesPerRegisteredDomain && want("domain")) {
      const domains = new Set(await Promise.all(request.names.map((n) => this.registeredDomain(n))));
      for (const domain of domains) refs.push(await this.ref("domain", domain, certificatesPerRegisteredDomain));
    }
    if (certificatesPerNameSet && want("nameset")) refs.push(await this.ref("nameset", request.nameSetId, certificatesPerNameSet));
    // One order of writes for every process: two spends never wait on each other in opposite orders.
    return refs.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }

  /** The bucket of one kind and subject (e.g. to {@link pause} it, or to show it). */
  async bucket(kind: BucketKind, subject: string): Promise<BucketRef | undefined> {
    const limit = this.limitOf(kind);
    return limit ? this.ref(kind, subject, limit) : undefined;
  }

  /**
   * Spends one token from every bucket `request` needs, all or none. When any bucket is empty or
   * paused nothing is spent, and the answer says until when. Storage errors propagate.
   */
  async trySpend(request: BudgetRequest): Promise<BudgetDecision> {
    const refs = await this.bucketsFor(request);
    if (refs.length === 0) return { granted: true, spent: [] };
    for (let attempt = 0; attempt < MAX_SPEND_ATTEMPTS; attempt++) {
      const now = this.now();
      const entries = await Promise.all(refs.map((r) => this.storage.getEntry(r.key)));
      const plans = refs.map((r, i) => ({ ref: r, entry: entries[i], result: spend(r.limit, decode(entries[i], r.limit, now), now, 1, this.marginMs) }));
      const blocked = plans.flatMap((p) => (p.result.ok ? [] : [{ bucket: p.ref, retryAt: p.result.retryAt }]));
      if (blocked.length > 0) return { granted: false, retryAt: Math.max(...blocked.map((b) => b.retryAt)), blocked };
      const written: typeof plans = [];
      let lost = false;
      for (const plan of plans) {
        if (!plan.result.ok) break;
        try {
          await this.storage.put(plan.ref.key, encode(plan.result.next, plan.ref.limit), { ifVersion: plan.entry?.version ?? null });
          written.push(plan);
        } catch (err) {
          if (!(err instanceof EdgecertError && err.code === "conflict")) {
            await this.giveBack(written.map((w) => w.ref));
            throw err;
          }
          lost = true;
          break;
        }
      }
      if (!lost) return { granted: true, spent: plans.map((p) => (p.result.ok && p.result.next.n !== undefined ? { ...p.ref, seq: p.result.next.n } : p.ref)) };
      // Another process spent one of these buckets meanwhile: give back what this attempt took, re-read.
      await this.giveBack(written.map((w) => w.ref));
    }
    throw new EdgecertError("conflict", `the CA budget for ${request.names.join(", ")} is contended: ${MAX_SPEND_ATTEMPTS} attempts lost to other writers`);
  }

  /** Returns one token to each bucket (an order that was budgeted but never sent). */
  async giveBack(refs: readonly BucketRef[]): Promise<void> {
    for (const ref of refs) await this.update(ref, (state, now) => (state ? refund(ref.limit, state, now) : undefined));
  }

  /**
   * The request that spends `spent`'s buckets of `kinds` at the CA is sent now: each counts that spend
   * from now plus the send margin (see `countedFrom`), not from its admission. The manager calls it
   * right before newOrder (`orders`) and right before finalize (`domain`, `nameset`: Let's Encrypt
   * checks those at newOrder but spends them when it issues), so an order that waited for its lock or
   * for validation does not let the next one reach the CA before the CA's own bucket holds a token.
   * (Counted from the admission, onboarding 300 names through the Worker in real time met 16-101
   * refusals.) A compare-and-set like every bucket write; it only ever moves a bucket later.
   */
  async sending(spent: readonly BucketRef[], kinds: readonly BucketKind[]): Promise<void> {
    await this.#countFrom(spent, kinds, this.marginMs);
  }

  /**
   * The request that spends `spent`'s buckets of `kinds` was answered now: the CA counted it by now,
   * so each bucket counts that spend from no earlier than now (see `countedFrom`). {@link sending}
   * assumes the request reaches the CA within the send margin; one that took longer (a loaded
   * runtime signing and sending 80 orders at once: 2-3 s) reached a CA bucket that had sat full
   * meanwhile, so the CA's bucket ran later than the budget's and, once drained, refused the order
   * the budget let go next (onboarding through the Worker at load 15: the first of 132 refusals).
   * The manager calls it when the new order (`orders`) and the certificate (`domain`, `nameset`) are
   * in. Only ever moves a bucket later.
   */
  async sent(spent: readonly BucketRef[], kinds: readonly BucketKind[]): Promise<void> {
    await this.#countFrom(spent, kinds, 0);
  }

  async #countFrom(spent: readonly BucketRef[], kinds: readonly BucketKind[], marginMs: number): Promise<void> {
    for (const ref of spent) {
      if (!kinds.includes(ref.kind) || ref.seq === undefined) continue;
      const seq = ref.seq;
      await this.update(ref, (state, now) => countedFrom(ref.limit, state, seq, now + marginMs));
    }
  }

  /**
   * Pauses a bucket for the whole fleet until `until` (the CA refused with `Retry-After`), and from
   * then lets one order go per interval (see `paused`); with `emptied` false (a refusal for another
   * limit) it keeps its tokens. A pause only ever moves later.
   */
  async pause(ref: BucketRef, until: number, emptied = true): Promise<void> {
    await this.update(ref, (state, now) => paused(ref.limit, state, until, now, emptied));
  }

  /** What each bucket of `request` holds now. */
  async view(request: BudgetRequest): Promise<BucketView[]> {
    const refs = await this.bucketsFor(request);
    const now = this.now();
    return Promise.all(
      refs.map(async (ref) => {
        const state = decode(await this.storage.getEntry(ref.key), ref.limit, now);
        const view: BucketView = { kind: ref.kind, subject: ref.subject, available: available(ref.limit, state, now), limit: ref.limit };
        return state?.pausedUntil !== undefined && state.pausedUntil > now ? { ...view, pausedUntil: state.pausedUntil } : view;
      }),
    );
  }

  /** The state of one bucket as stored now (undefined: never spent, i.e. full). */
  async state(ref: BucketRef): Promise<BucketState | undefined> {
    return decode(await this.storage.getEntry(ref.key), ref.limit, this.now());
  }

  /** The limit of a bucket kind, when this budget has one. */
  limitOf(kind: BucketKind): RateLimit | undefined {
    return kind === "orders" ? this.limits.newOrdersPerAccount : kind === "domain" ? this.limits.certificatesPerRegisteredDomain : this.limits.certificatesPerNameSet;
  }

  /**
   * A storage key segment for a subject: a registered domain as it reads (`:` and `/` of an IPv6 /64
   * as `_`), anything else (account URLs, name set ids, odd domains) as a short hash.
   */
  async subjectId(kind: BucketKind, subject: string): Promise<string> {
    // Registered domains are readable keys; account URLs and name set ids may be long or carry any character.
    if (kind === "domain" && /^[a-z0-9.:/-]{1,200}$/.test(subject)) return subject.replace(/[:/]/g, "_");
    const key = `${kind}\n${subject}`;
    const cached = this.#hashes.get(key);
    if (cached !== undefined) return cached;
    const id = await shortHash(subject);
    if (this.#hashes.size >= HASH_CACHE_LIMIT) this.#hashes.clear();
    this.#hashes.set(key, id);
    return id;
  }

  /** The bucket of one kind and subject, with its storage key. */
  private async ref(kind: BucketKind, subject: string, limit: RateLimit): Promise<BucketRef> {
    return { kind, subject, key: `${this.prefix}/${kind}/${await this.subjectId(kind, subject)}`, limit };
  }

  /** Read-modify-write of one bucket by compare-and-set; `change` returning undefined writes nothing. */
  private async update(ref: BucketRef, change: (state: BucketState | undefined, now: number) => BucketState | undefined): Promise<void> {
    for (let attempt = 0; attempt < MAX_SPEND_ATTEMPTS; attempt++) {
      const entry = await this.storage.getEntry(ref.key);
      const now = this.now();
      const next = change(decode(entry, ref.limit, now), now);
      if (next === undefined) return;
      try {
        await this.storage.put(ref.key, encode(next, ref.limit), { ifVersion: entry?.version ?? null });
        return;
      } catch (err) {
        if (!(err instanceof EdgecertError && err.code === "conflict")) throw err;
      }
    }
    throw new EdgecertError("conflict", `the CA budget bucket ${ref.key} is contended: ${MAX_SPEND_ATTEMPTS} attempts lost to other writers`);
  }
}
