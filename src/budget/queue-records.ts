import type { BucketKind, BucketRef, FleetBudget } from "./fleet-budget.ts";
import type { AdmissionRequest } from "./fair-queue.ts";

/**
 * Where the fleet's fair queue lives in the shared storage, under `<budget prefix>/queue/` (one queue
 * per CA). Every key sorts in the order the queue reads it, so a process reads only the head:
 *
 * - `p/<process>`: a process with orders waiting: its lease (`until`) and its demand (how many first
 *   issuances wait, the largest registered domains among them). Written only by that process (by
 *   compare-and-set, so it learns when another removed it); removed by any process once it lapsed.
 * - `r/<expiresAt>/<process>/<n>`: a waiting renewal (the order), soonest expiry first.
 * - `d/<domain>/<turn>/<process>/<n>`: a waiting first issuance, under its registered domain, by
 *   turn: a domain's orders take turns 1, 2, 3… from the turn the queue is at when they arrive.
 * - `h/<turn>/<mix>/<domain>`: a pointer to a domain's first waiting turn (a hint: checked against
 *   `d/` when read, moved or removed when stale). Reading `h/` in key order gives each domain's next
 *   order in fair order: turn by turn, and within a turn in an order mixed per turn (`mix`, a hash of
 *   domain and turn) so no domain is always first.
 * - `t/<domain>`: the last turn handed out to the domain (compare-and-set).
 * - `v`: the turn the queue is at (the highest turn sent in turn order).
 */
export class QueueLayout {
  /** `<budget prefix>/queue`. */
  readonly root: string;

  /** The layout of the queue of `budget`. */
  constructor(budget: FleetBudget) {
    this.root = `${budget.prefix}/queue`;
  }

  /** Prefix of the process records. */
  get processes(): string {
    return `${this.root}/p/`;
  }

  /** A process's record. */
  process(id: string): string {
    return `${this.root}/p/${id}`;
  }

  /** Prefix of the waiting renewals. */
  get renewals(): string {
    return `${this.root}/r/`;
  }

  /** A waiting renewal. */
  renewal(expiresAt: number, owner: string, n: string): string {
    return `${this.root}/r/${pad(Math.max(0, Math.floor(expiresAt)), 15)}/${owner}/${n}`;
  }

  /** Prefix of every registered domain's waiting first issuances. */
  get firstIssuances(): string {
    return `${this.root}/d/`;
  }

  /** Prefix of one registered domain's waiting first issuances. */
  domainOrders(domainId: string): string {
    return `${this.root}/d/${domainId}/`;
  }

  /** A waiting first issuance. */
  first(domainId: string, turn: number, owner: string, n: string): string {
    return `${this.root}/d/${domainId}/${pad(turn, TURN_DIGITS)}/${owner}/${n}`;
  }

  /** Prefix of the hints. */
  get hints(): string {
    return `${this.root}/h/`;
  }

  /** The hint that `domainId` waits from `turn`. */
  hint(turn: number, domainId: string): string {
    return `${this.root}/h/${turnOrder(turn, domainId)}`;
  }

  /** A domain's last turn handed out. */
  turnCounter(domainId: string): string {
    return `${this.root}/t/${domainId}`;
  }

  /** The turn the queue is at. */
  get turn(): string {
    return `${this.root}/v`;
  }

  /** Owner, number and position of an order's key (`r/…` or `d/…`), or undefined for a key of another shape. */
  parseOrder(key: string): { owner: string; n: string; domainId?: string; turn?: number } | undefined {
    const rest = key.slice(this.root.length + 1).split("/");
    if (rest[0] === "r" && rest.length === 4) return { owner: rest[2]!, n: rest[3]! };
    if (rest[0] === "d" && rest.length === 5) return { domainId: rest[1]!, turn: Number(rest[2]), owner: rest[3]!, n: rest[4]! };
    return undefined;
  }

  /** Turn and domain of a hint's key (its order is the key itself). */
  parseHint(key: string): { turn: number; domainId: string; order: string } | undefined {
    const order = key.slice(this.hints.length);
    const [turn, , domainId, extra] = order.split("/");
    if (turn === undefined || domainId === undefined || extra !== undefined || !/^\d+$/.test(turn)) return undefined;
    return { turn: Number(turn), domainId, order };
  }
}

const TURN_DIGITS = 12;

function pad(n: number, digits: number): string {
  return String(n).padStart(digits, "0");
}

/** Where a domain's order of `turn` sorts among every domain's: by turn, then by a per-turn mix. */
export function turnOrder(turn: number, domainId: string): string {
  return `${pad(turn, TURN_DIGITS)}/${mix(`${domainId}/${turn}`)}/${domainId}`;
}

/** FNV-1a, 32 bits as 8 hex digits: the same in every process, different per turn. */
function mix(text: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h.toString(16).padStart(8, "0");
}

/** A waiting order as stored: the request and the buckets its owner will spend (by key). */
interface StoredOrder {
  readonly id: string;
  readonly names: readonly string[];
  readonly account: string;
  readonly nameSetId: string;
  readonly replaces?: boolean;
  readonly expiresAt?: number;
  readonly retry?: boolean;
  readonly buckets: ReadonlyArray<readonly [BucketKind, string, string]>;
}

/** The stored form of a waiting order. */
export function encodeOrder(request: AdmissionRequest, refs: readonly BucketRef[]): string {
  const stored: StoredOrder = {
    id: request.id,
    names: request.names,
    account: request.account,
    nameSetId: request.nameSetId,
    ...(request.replaces ? { replaces: true } : {}),
    ...(request.expiresAt !== undefined ? { expiresAt: request.expiresAt } : {}),
    ...(request.retry ? { retry: true } : {}),
    buckets: refs.map((r) => [r.kind, r.subject, r.key] as const),
  };
  return JSON.stringify(stored);
}

/**
 * A stored order's buckets, with this process's limits (the fleet shares one configuration), or
 * undefined for a damaged record or a bucket kind this process has no limit for.
 */
export function decodeOrderBuckets(bytes: Uint8Array, limitOf: (kind: BucketKind) => BucketRef["limit"] | undefined): BucketRef[] | undefined {
  return decodeOrder(bytes, limitOf)?.refs;
}

/** A stored order as views show it: its certificate, names, expiry (a renewal or a retry), whether a retry, and buckets; undefined when damaged. */
export function decodeOrder(
  bytes: Uint8Array,
  limitOf: (kind: BucketKind) => BucketRef["limit"] | undefined,
): { id: string; names: readonly string[]; expiresAt?: number; retry?: boolean; refs: BucketRef[] } | undefined {
  try {
    const stored = JSON.parse(new TextDecoder().decode(bytes)) as Partial<StoredOrder>;
    if (!Array.isArray(stored.buckets) || typeof stored.id !== "string" || !Array.isArray(stored.names)) return undefined;
    const refs: BucketRef[] = [];
    for (const item of stored.buckets) {
      if (!Array.isArray(item) || item.length !== 3) return undefined;
      const [kind, subject, key] = item as [BucketKind, string, string];
      const limit = limitOf(kind);
      if (!limit || typeof subject !== "string" || typeof key !== "string") continue;
      refs.push({ kind, subject, key, limit });
    }
    const names = stored.names.filter((n): n is string => typeof n === "string");
    const retry = stored.retry === true ? { retry: true } : {};
    return typeof stored.expiresAt === "number" ? { id: stored.id, names, expiresAt: stored.expiresAt, ...retry, refs } : { id: stored.id, names, ...retry, refs };
  } catch {
    return undefined;
  }
}

/** What a process record says. */
export interface ProcessRecord {
  /** Its lease: the process counts as gone after this (epoch ms, by the budget's clock). */
  readonly until: number;
  /** First issuances waiting in it. */
  readonly total: number;
  /** The registered domains with the most of them (domain id, count), largest first. */
  readonly heavy: ReadonlyArray<readonly [string, number]>;
}

/** A process record's stored form. */
export function encodeProcess(record: ProcessRecord): string {
  return JSON.stringify(record);
}

/** A process record, or undefined when damaged (it then counts as lapsed). */
export function decodeProcess(bytes: Uint8Array): ProcessRecord | undefined {
  try {
    const r = JSON.parse(new TextDecoder().decode(bytes)) as Partial<ProcessRecord>;
    if (typeof r.until !== "number" || typeof r.total !== "number" || !Array.isArray(r.heavy)) return undefined;
    const heavy = r.heavy.filter((h): h is [string, number] => Array.isArray(h) && typeof h[0] === "string" && typeof h[1] === "number");
    return { until: r.until, total: r.total, heavy };
  } catch {
    return undefined;
  }
}

/** A stored number field (`{"last": n}`, `{"turn": n}`), 0 when absent or damaged. */
export function decodeNumber(bytes: Uint8Array | undefined, field: string): number {
  if (!bytes) return 0;
  try {
    const value = (JSON.parse(new TextDecoder().decode(bytes)) as Record<string, unknown>)[field];
    return typeof value === "number" && Number.isFinite(value) && value >= 0 ? value : 0;
  } catch {
    return 0;
  }
}
