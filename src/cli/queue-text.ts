/**
 * How the CLI says that a certificate waits for the CA's limits (`edgecert list`, the progress of
 * `issue` and `renew`): its place, the limit that holds it back, and when it is expected to be sent,
 * exact and relative.
 * @module
 */
import { relativeText } from "../duration-text.ts";

/** The limits as Let's Encrypt's documentation names them. */
const LIMIT_NAMES = { orders: "new-order", domain: "registered-domain", nameset: "name-set" } as const;

/** One queued order as the CLI shows it. */
export interface QueueText {
  position?: number;
  /** Orders waiting in all (the fleet's queue). */
  total?: number;
  estimatedAt: number;
  blockedBy?: { kind: keyof typeof LIMIT_NAMES; subject: string };
}

/** E.g. `queued #2 of 3 for the CA's new-order limit (https://…/acct/1), expected 2026-12-06T13:40:00.000Z (in 60 minutes)`. */
export function queueText(q: QueueText, now: number): string {
  const place = q.position === undefined ? "queued" : `queued #${q.position}${q.total !== undefined ? ` of ${q.total}` : ""}`;
  const limit = q.blockedBy ? ` for the CA's ${LIMIT_NAMES[q.blockedBy.kind]} limit (${q.blockedBy.subject})` : " for the CA's limits";
  return `${place}${limit}, expected ${new Date(q.estimatedAt).toISOString()} (${relativeText(q.estimatedAt, now)})`;
}
