/**
 * Certificate events the Worker sends to webhook endpoints, and the one way to send them: hand the
 * event to the outbox ({@link publishEvent}) and return. Delivery, signing and retries happen later,
 * in the outbox's alarm (./webhook-outbox.ts), so no endpoint — slow, failing or gone — can hold up the
 * renewal that caused the event.
 * @module
 */
import type { Env } from "../env.ts";

/** Event types an endpoint can subscribe to (Standard Webhooks: full-stop delimited, hierarchical). */
export const EVENT_TYPES = ["certificate.obtained", "certificate.renewed", "certificate.failed", "certificate.queued", "certificate.expiring", "certificate.revoked"] as const;
/** A certificate event type. */
export type EventType = (typeof EVENT_TYPES)[number];
/** Sent only by `POST /admin/webhooks/:id/test`, to that endpoint, whatever it subscribed to. */
export const TEST_EVENT = "webhook.test";

/** What every certificate event carries about its certificate. */
export interface CertificateEventData {
  /** The certificate's id in the admin API. */
  id: string;
  names: string[];
  serialNumber: string | null;
  notAfter: string | null;
  [field: string]: unknown;
}

/** An event as published: `timestamp` is when it happened (each attempt has its own `webhook-timestamp`). */
export interface WebhookEvent {
  type: EventType | typeof TEST_EVENT;
  timestamp: string;
  data: Record<string, unknown>;
}

/** A certificate event of `type` at epoch ms `at`. */
export function certificateEvent(type: EventType, at: number, data: CertificateEventData): WebhookEvent {
  return { type, timestamp: new Date(at).toISOString(), data };
}

/**
 * How long before expiry a certificate that is still not renewed counts as expiring soon: a sixth of
 * its lifetime, at most 7 days (about 15 days of failed renewals for a 90-day certificate, a day
 * before a 6-day one expires). Normal renewal happens at two thirds of the lifetime, long before this.
 */
export function expiringWindowMs(notBefore: number, notAfter: number): number {
  return Math.min(7 * 86_400_000, Math.max(0, notAfter - notBefore) / 6);
}

/** The outbox: one Durable Object per Worker holding endpoints, queued events and the delivery log. */
export function outbox(env: Env) {
  return env.WEBHOOK_OUTBOX.get(env.WEBHOOK_OUTBOX.idFromName("webhooks"));
}

/**
 * Queues `event` for every endpoint subscribed to it. Never throws: an outbox that cannot be reached
 * costs the event's webhooks (logged), never the operation that produced it.
 */
export async function publishEvent(env: Env, event: WebhookEvent): Promise<void> {
  try {
    await outbox(env).publish(event);
  } catch (err) {
    console.error(JSON.stringify({ level: "error", event: "webhook.publish_failed", type: event.type, error: err instanceof Error ? err.message : String(err) }));
  }
}
