import { EdgecertError } from "../errors.ts";
import type { BudgetSnapshot } from "./budget-snapshot.ts";
import type { BucketKind, BucketRef, FleetBudget } from "./fleet-budget.ts";
import { decodeOrderBuckets, decodeProcess, turnOrder, type ProcessRecord, type QueueLayout } from "./queue-records.ts";

/** A process record as read, with its version (a lapsed one is removed by compare-and-set on it). */
export interface StoredProcess {
  /** Undefined for a damaged record (it counts as lapsed). */
  readonly record: ProcessRecord | undefined;
  readonly version: string;
}

/** One of this process's waiting orders, as the walk needs it. */
export interface OwnOrder {
  /** The key of its stored entry (an entry of ours under another key is a leftover). */
  readonly key?: string | undefined;
  readonly refs: readonly BucketRef[];
}

/** An order the walk hands the budget's tokens to. */
export interface Chosen {
  readonly key: string;
  readonly owner: string;
  readonly n: string;
  /** Taken in turn order (it moves the queue's turn), or ahead of it (a renewal, a critical domain). */
  readonly turn?: number;
}

/** Why the walk did not choose an order of this process: the bucket and when it holds a token. */
export interface Blocked {
  readonly bucket: BucketRef;
  readonly retryAt: number;
}

/** What one walk found. */
export interface WalkResult {
  /** Orders (of every process) that get the tokens there are now, in fair order. */
  readonly chosen: Chosen[];
  /** This process's orders the walk reached and could not choose, by number. */
  readonly blocked: Map<string, Blocked>;
  /** When the walk's answer may change: the earliest refill of a bucket that held an order back, or a lease of a process holding chosen orders. */
  readonly wakeAt: number;
  /** The walk stopped at its bound before the end of the queue. */
  readonly truncated: boolean;
  /** Leftovers it removed and hints it moved. */
  readonly cleaned: number;
  /** Registered domain ids whose own limit decides when the queue can finish, largest need first: served before the turns while their bucket holds a token. Absent when the walk stopped before judging (its bound, in the renewals). */
  readonly critical?: readonly string[];
}

/** Most orders and hints one walk looks at (its cost is bounded, whatever the queue's length). */
const MAX_VISITS = 1000;
/** Orders of one domain read at a time. */
const DOMAIN_PAGE = 16;
/** Hints and renewals read at a time. */
const PAGE = 64;
/**
 * A domain is critical when the time its own bucket needs for its waiting orders is at least this
 * share of the time the whole queue needs (the slowest bucket's): its bucket, not the turns, decides
 * when the queue is done, so it goes first whenever it holds a token.
 */
const CRITICAL_SHARE = 0.9;

type Outcome = "chosen" | "skipped" | "blocked" | "domain" | "orders";

interface DomainCursor {
  readonly id: string;
  keys: string[];
  index: number;
  cursor: string | undefined;
  exhausted: boolean;
  /** Its own bucket is spent in this walk (every further order of it waits too). */
  done: boolean;
  /** In the walk's merge already, at this order. */
  scheduled: string | undefined;
}

/**
 * One pass over the fleet's fair queue (see `QueueLayout`) that hands the tokens the budget holds now
 * to waiting orders, on a {@link BudgetSnapshot}, in fair order: renewals by expiry; then the first
 * issuances of critical domains while their bucket holds a token; then first issuances turn by turn
 * across registered domains. Every process walks the same records the same way, so whichever process
 * holds an order, it gets its tokens at the same place in the order; each process then spends (really,
 * by compare-and-set) only for its own chosen orders. Orders of a process whose lease lapsed, and
 * leftovers of this one, are removed on the way; stale hints are moved.
 */
export class QueueWalk {
  readonly #domains = new Map<string, DomainCursor>();
  readonly #lives = new Map<string, Promise<number | undefined>>();
  readonly #records: ReadonlyMap<string, StoredProcess>;
  readonly #chosen: Chosen[] = [];
  readonly #blocked = new Map<string, Blocked>();
  #wakeAt = Infinity;
  #visits = 0;
  /** Leftovers removed and hints moved: the queue is tidier for the next walk. */
  #cleaned = 0;
  #stopped = false;

  /** A walk at the snapshot's instant, by process `me` over `records` (the process records read for it). */
  constructor(
    private readonly budget: FleetBudget,
    private readonly layout: QueueLayout,
    private readonly snapshot: BudgetSnapshot,
    private readonly me: string,
    private readonly mine: (n: string) => OwnOrder | undefined,
    records: ReadonlyMap<string, StoredProcess>,
    /** This process's account bucket (for the critical test): the fleet orders with one account per CA. */
    private readonly account: BucketRef | undefined,
  ) {
    this.#records = records;
  }

  /** Walks the queue. Storage errors propagate. */
  async run(): Promise<WalkResult> {
    await this.#renewals();
    const critical = this.#stopped ? undefined : await this.#critical();
    for (const id of critical ?? []) if (!this.#stopped) await this.#criticalDomain(id);
    if (!this.#stopped) await this.#turns();
    return { chosen: this.#chosen, blocked: this.#blocked, wakeAt: this.#wakeAt, truncated: this.#visits >= MAX_VISITS, cleaned: this.#cleaned, ...(critical ? { critical } : {}) };
  }

  get #bounded(): boolean {
    return this.#stopped || this.#visits >= MAX_VISITS;
  }

  /** Renewals first, soonest expiry first. */
  async #renewals(): Promise<void> {
    let cursor: string | undefined;
    do {
      const page = await this.budget.storage.list(this.layout.renewals, { limit: PAGE, ...(cursor ? { cursor } : {}) });
      for (const key of page.keys) {
        if (this.#bounded) return;
        await this.#consider(key);
      }
      cursor = page.cursor;
    } while (cursor && !this.#bounded);
  }

  /**
   * The registered domains whose own bucket decides when the queue can finish: their waiting orders
   * need at least {@link CRITICAL_SHARE} of the time the whole queue needs, at their bucket's refill
   * rate (from the demand every live process publishes). Largest need first.
   */
  async #critical(): Promise<string[]> {
    const limit = this.budget.limitOf("domain");
    if (!limit) return [];
    let total = 0;
    const demand = new Map<string, number>();
    for (const { record: r } of this.#records.values()) {
      if (!r || r.until <= this.snapshot.now) continue;
      total += r.total;
      for (const [id, n] of r.heavy) demand.set(id, (demand.get(id) ?? 0) + n);
    }
    const known = [...demand.values()].reduce((a, b) => a + b, 0);
    // Turns only matter between two domains or more.
    if (demand.size === 0 || (demand.size < 2 && total <= known)) return [];
    let accountNeed = 0;
    if (this.account) {
      await this.snapshot.load([this.account]);
      accountNeed = Math.max(0, total - this.snapshot.available(this.account)) * (this.account.limit.periodMs / this.account.limit.count);
    }
    const needs: Array<[string, number]> = [];
    for (const [id, n] of demand) {
      const ref = this.#domainRef(id, limit);
      await this.snapshot.load([ref]);
      needs.push([id, Math.max(0, n - this.snapshot.available(ref)) * (limit.periodMs / limit.count)]);
    }
    const bound = Math.max(accountNeed, ...needs.map(([, need]) => need));
    return needs
      .filter(([, need]) => need > 0 && need >= CRITICAL_SHARE * bound)
      .sort((a, b) => b[1] - a[1])
      .map(([id]) => id);
  }

  /** A critical domain's orders while its bucket holds tokens. */
  async #criticalDomain(id: string): Promise<void> {
    const limit = this.budget.limitOf("domain")!;
    const ref = this.#domainRef(id, limit);
    const domain = this.#domain(id);
    while (!this.#bounded && !domain.done && this.snapshot.available(ref) > 0) {
      const key = await this.#head(domain);
      if (key === undefined) return;
      const outcome = await this.#consider(key);
      domain.index++;
      if (outcome === "domain") domain.done = true;
    }
  }

  /**
   * First issuances turn by turn: the hints in key order, merged with the next order of each domain
   * the walk has served (kept in a heap), one order per domain per turn.
   */
  async #turns(): Promise<void> {
    const heap = new OrderHeap();
    let hints: string[] = [];
    let hintCursor: string | undefined;
    let hintsDone = false;
    while (!this.#bounded) {
      if (hints.length === 0 && !hintsDone) {
        const page = await this.budget.storage.list(this.layout.hints, { limit: PAGE, ...(hintCursor ? { cursor: hintCursor } : {}) });
        hints = page.keys;
        hintCursor = page.cursor;
        hintsDone = !page.cursor;
      }
      const hint = hints[0] === undefined ? undefined : this.layout.parseHint(hints[0]);
      if (hints[0] !== undefined && !hint) {
        hints.shift();
        continue;
      }
      const top = heap.peek();
      if (!hint && !top) return;
      if (hint && (!top || hint.order < top.order)) {
        const key = hints.shift()!;
        this.#visits++;
        await this.#hint(key, hint, heap);
      } else {
        heap.pop();
        await this.#turn(this.#domain(top!.domainId), heap);
      }
    }
  }

  /** A hint read in turn order: checked against the domain's orders, moved when stale, then its turn. */
  async #hint(key: string, hint: { turn: number; domainId: string; order: string }, heap: OrderHeap): Promise<void> {
    const domain = this.#domain(hint.domainId);
    if (domain.done || domain.scheduled !== undefined || domain.index > 0) return this.#tidy(key, hint);
    const storage = this.budget.storage;
    const entry = await storage.getEntry(key);
    if (!entry) return;
    const head = await this.#head(domain);
    if (head === undefined) {
      // Nothing waits under this domain: the hint goes (unless rewritten meanwhile), and its turn counter.
      await storage.delete(key, { ifVersion: entry.version }).catch(ignoreConflict);
      const counter = await storage.getEntry(this.layout.turnCounter(hint.domainId));
      if (counter) await storage.delete(this.layout.turnCounter(hint.domainId), { ifVersion: counter.version }).catch(ignoreConflict);
      domain.done = true;
      this.#cleaned++;
      return;
    }
    const turn = this.layout.parseOrder(head)?.turn ?? hint.turn;
    if (turn !== hint.turn) {
      await storage.put(this.layout.hint(turn, hint.domainId), "");
      await storage.delete(key, { ifVersion: entry.version }).catch(ignoreConflict);
      this.#cleaned++;
    }
    if (turn > hint.turn) {
      // Its first waiting order is a later turn: it comes when the walk gets there.
      domain.scheduled = turnOrder(turn, hint.domainId);
      heap.push({ order: domain.scheduled, domainId: hint.domainId });
      return;
    }
    await this.#turn(domain, heap);
  }

  /**
   * Another hint of a domain this walk has placed already (publishing writes one per batch; moved
   * hints leave the old until read): kept when it is at the domain's first waiting turn; otherwise a
   * hint at that turn is made sure of, then this one goes (unless rewritten meanwhile). Without this,
   * a large customer's leftover hints filled the walk's bound every time and kept later turns unread.
   */
  async #tidy(key: string, hint: { turn: number; domainId: string }): Promise<void> {
    const storage = this.budget.storage;
    const entry = await storage.getEntry(key);
    if (!entry) return;
    const [first] = (await storage.list(this.layout.domainOrders(hint.domainId), { limit: 1 })).keys;
    const turn = first === undefined ? undefined : this.layout.parseOrder(first)?.turn;
    if (turn === hint.turn) return;
    if (turn !== undefined) await storage.put(this.layout.hint(turn, hint.domainId), "");
    await storage.delete(key, { ifVersion: entry.version }).catch(ignoreConflict);
    this.#cleaned++;
  }

  /** A domain's turn: its next order, then its place in the next turn. */
  async #turn(domain: DomainCursor, heap: OrderHeap): Promise<void> {
    domain.scheduled = undefined;
    if (domain.done) return;
    const key = await this.#head(domain);
    if (key === undefined) return;
    const outcome = await this.#consider(key, this.layout.parseOrder(key)?.turn);
    domain.index++;
    if (outcome === "domain" || outcome === "orders") {
      domain.done = true;
      return;
    }
    const next = await this.#head(domain);
    const turn = next === undefined ? undefined : this.layout.parseOrder(next)?.turn;
    if (turn === undefined) return;
    domain.scheduled = turnOrder(turn, domain.id);
    heap.push({ order: domain.scheduled, domainId: domain.id });
  }

  /** The domain's next order key (reading its orders a page at a time), or undefined when none is left. */
  async #head(domain: DomainCursor): Promise<string | undefined> {
    while (domain.index >= domain.keys.length && !domain.exhausted) {
      const page = await this.budget.storage.list(this.layout.domainOrders(domain.id), { limit: DOMAIN_PAGE, ...(domain.cursor ? { cursor: domain.cursor } : {}) });
      domain.keys = page.keys;
      domain.index = 0;
      domain.cursor = page.cursor;
      domain.exhausted = !page.cursor;
    }
    return domain.keys[domain.index];
  }

  /** Hands an order its tokens on the snapshot if it can have them; removes it when its process is gone. */
  async #consider(key: string, turn?: number): Promise<Outcome> {
    this.#visits++;
    const storage = this.budget.storage;
    const parsed = this.layout.parseOrder(key);
    if (!parsed) return "skipped";
    let refs: readonly BucketRef[] | undefined;
    if (parsed.owner === this.me) {
      const own = this.mine(parsed.n);
      if (!own || own.key !== key) {
        // Ours, but no order of ours waits under it (sent, given up, or written again elsewhere).
        await storage.delete(key);
        this.#cleaned++;
        return "skipped";
      }
      refs = own.refs;
    } else {
      const until = await this.#liveUntil(parsed.owner);
      if (until === undefined) {
        await storage.delete(key);
        this.#cleaned++;
        return "skipped";
      }
      const entry = await storage.getEntry(key);
      if (!entry) return "skipped";
      refs = decodeOrderBuckets(entry.value, (kind) => this.budget.limitOf(kind));
      if (!refs) {
        await storage.delete(key, { ifVersion: entry.version }).catch(ignoreConflict);
        return "skipped";
      }
    }
    await this.snapshot.load(refs);
    const taken = this.snapshot.take(refs);
    if (taken.ok) {
      this.#chosen.push({ key, owner: parsed.owner, n: parsed.n, ...(turn !== undefined ? { turn } : {}) });
      if (parsed.owner !== this.me) this.#wakeAt = Math.min(this.#wakeAt, (await this.#liveUntil(parsed.owner)) ?? Infinity);
      return "chosen";
    }
    this.#wakeAt = Math.min(this.#wakeAt, taken.retryAt);
    if (parsed.owner === this.me) this.#blocked.set(parsed.n, { bucket: taken.bucket, retryAt: taken.retryAt });
    if (taken.bucket.kind === "orders") {
      // Every first issuance and renewal of the account needs this bucket: nothing behind can go.
      this.#stopped = true;
      return "orders";
    }
    return taken.bucket.kind === "domain" && parsed.domainId !== undefined && taken.bucket.key === this.#domainRef(parsed.domainId, taken.bucket.limit).key ? "domain" : "blocked";
  }

  /**
   * Until when process `id` holds its place; undefined when it is gone: no record, or a lapsed one,
   * which is then removed by compare-and-set (a process that renewed it meanwhile keeps it; one that
   * comes back after the removal learns from its own next write and queues its orders again). Only
   * then may its orders be removed. A process not in the records read at the start is read now.
   */
  #liveUntil(id: string): Promise<number | undefined> {
    let live = this.#lives.get(id);
    if (!live) {
      live = this.#checkLive(id);
      this.#lives.set(id, live);
    }
    return live;
  }

  async #checkLive(id: string): Promise<number | undefined> {
    const storage = this.budget.storage;
    const key = this.layout.process(id);
    let stored = this.#records.get(id);
    if (!stored) {
      const entry = await storage.getEntry(key);
      if (!entry) return undefined;
      stored = { record: decodeProcess(entry.value), version: entry.version };
    }
    if (stored.record && stored.record.until > this.snapshot.now) return stored.record.until;
    try {
      await storage.delete(key, { ifVersion: stored.version });
      return undefined;
    } catch (err) {
      ignoreConflict(err);
      // Renewed meanwhile (or removed by another process): read again.
      // Its own write wins: it counts as live for this walk (by its clock if ours runs ahead of it).
      const entry = await storage.getEntry(key);
      if (!entry) return undefined;
      const until = decodeProcess(entry.value)?.until ?? 0;
      return until > this.snapshot.now ? until : this.snapshot.now + 1000;
    }
  }

  #domain(id: string): DomainCursor {
    let d = this.#domains.get(id);
    if (!d) this.#domains.set(id, (d = { id, keys: [], index: 0, cursor: undefined, exhausted: false, done: false, scheduled: undefined }));
    return d;
  }

  #domainRef(id: string, limit: BucketRef["limit"]): BucketRef {
    return { kind: "domain" as BucketKind, subject: id, key: `${this.budget.prefix}/domain/${id}`, limit };
  }
}

function ignoreConflict(err: unknown): void {
  if (!(err instanceof EdgecertError && err.code === "conflict")) throw err;
}

/** A min-heap of domains by the order of their next turn. */
class OrderHeap {
  readonly #items: Array<{ order: string; domainId: string }> = [];

  peek(): { order: string; domainId: string } | undefined {
    return this.#items[0];
  }

  push(item: { order: string; domainId: string }): void {
    const a = this.#items;
    a.push(item);
    let i = a.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (a[p]!.order <= a[i]!.order) break;
      [a[p], a[i]] = [a[i]!, a[p]!];
      i = p;
    }
  }

  pop(): { order: string; domainId: string } | undefined {
    const a = this.#items;
    const top = a[0];
    const last = a.pop();
    if (a.length > 0 && last) {
      a[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < a.length && a[l]!.order < a[m]!.order) m = l;
        if (r < a.length && a[r]!.order < a[m]!.order) m = r;
        if (m === i) break;
        [a[m], a[i]] = [a[i]!, a[m]!];
        i = m;
      }
    }
    return top;
  }
}
