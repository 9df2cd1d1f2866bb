/**
 * The CA budget queue as the renewal index estimates it (GET /admin/queue): how often each bucket lets an
 * order go.
 * @module
 */
import { caLimitsFor, parseCaLimits, type CaLimits } from "../src/budget/ca-limits.ts";
import { EXACT_POSITIONS } from "./bounded-scan.ts";
import { setting } from "./config.ts";
import type { Env } from "./env.ts";

/** How often each kind of bucket lets one order go (its period / count, ms); 0 where unknown. */
export interface QueueIntervals {
  orders: number;
  domain: number;
  nameset: number;
}

/** How often each bucket of the CA's budget lets an order go (CA_LIMITS, else the CA's published limits). */
export function queueIntervals(env: Env): QueueIntervals {
  const limits = envCaLimits(env);
  const every = (l: { count: number; periodMs: number } | undefined) => (l && l.count > 0 ? Math.ceil(l.periodMs / l.count) : 0);
  return { orders: every(limits?.newOrdersPerAccount), domain: every(limits?.certificatesPerRegisteredDomain), nameset: every(limits?.certificatesPerNameSet) };
}

/** CA_LIMITS, else the CA's published limits; undefined also when CA_LIMITS is malformed (GET /admin/status's to report). */
export function envCaLimits(env: Env): CaLimits | undefined {
  const text = setting(env.CA_LIMITS);
  try {
    return text ? parseCaLimits(text) : caLimitsFor(env.ACME_DIRECTORY_URL);
  } catch {
    return undefined;
  }
}

/** The refill interval of the bucket a `queuedFor` names (`orders …`, `domain …`, `nameset …`). */
export function intervalFor(queuedFor: string, intervals: QueueIntervals): number {
  return queuedFor.startsWith("orders ") ? intervals.orders : queuedFor.startsWith("domain ") ? intervals.domain : intervals.nameset;
}


/** Where a waiting certificate is, as the admin API and the `certificate.queued` event show it. */
export interface QueuePlace {
  /** 1 = the next the budget lets go; null past the first {@link EXACT_POSITIONS}. */
  position: number | null;
  /** Set when `position` is null: it waits behind at least this many. */
  positionAfter?: number;
  /** When it is expected to go (ISO 8601). */
  estimatedAt: string;
}

/** A queued certificate's place (RenewalIndex.queuePage / queuePosition) as the API and events show it. */
export function queuePlace(q: { position: number | null; estimatedAt: number }): QueuePlace {
  return { position: q.position, ...(q.position === null ? { positionAfter: EXACT_POSITIONS } : {}), estimatedAt: new Date(q.estimatedAt).toISOString() };
}
