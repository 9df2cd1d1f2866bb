/**
 * Webhook endpoints in the admin API (behind the admin token): `/admin/webhooks` to add, list and
 * remove endpoints, send a test event, re-enable one, rotate its secret, read the delivery log and
 * send a delivery again.
 * @module
 */
import { Hono } from "hono/tiny";
import { AdminError, readBody, readQuery } from "../admin-body.ts";
import { readConfig } from "../config.ts";
import type { Env } from "../env.ts";
import { likePattern, readListQuery } from "../list-query.ts";
import { EVENT_TYPES, TEST_EVENT, outbox, type EventType } from "./webhook-events.ts";
import type { DeliveryView } from "./webhook-outbox.ts";
import { webhookUrlProblem } from "./webhook-url.ts";

type HubEnv = { Bindings: Env };

const ENDPOINT_ID = /^wh_[A-Za-z0-9_-]{12}$/;
const MESSAGE_ID = /^msg_[A-Za-z0-9_-]{22}$/;
const DELIVERY_STATES: ReadonlyArray<DeliveryView["state"]> = ["pending", "delivered", "failed"];
/** Cursors: an endpoint's position (rowid); a delivery's `<created_at>.<rowid>`. */
const ENDPOINT_CURSOR = /^[1-9][0-9]{0,14}$/;
const DELIVERY_CURSOR = /^[0-9]{1,15}\.[1-9][0-9]{0,14}$/;

/** A page of the delivery log (every endpoint's, or one's) as the listing query asks. */
async function deliveryPage(env: Env, endpoint: string | undefined, url: string) {
  const query = readListQuery(url, DELIVERY_CURSOR, DELIVERY_STATES);
  const page = await outbox(env).deliveries(endpoint, {
    limit: query.limit,
    ...(query.state ? { state: query.state as DeliveryView["state"] } : {}),
    ...(query.cursor ? { cursor: query.cursor } : {}),
    ...(query.q ? { like: likePattern(query.q) } : {}),
  });
  return { deliveries: page.deliveries, cursor: page.cursor ?? null };
}

/**
 * An endpoint URL: https to a public address unless WEBHOOK_ALLOW_PRIVATE_URLS says otherwise
 * (./webhook-url.ts), no credentials in it (they would show in every listing), at most 2,000 characters.
 */
function readUrl(value: unknown, allowPrivate: boolean): string {
  let url: URL | undefined;
  try {
    url = typeof value === "string" && value.length <= 2000 ? new URL(value) : undefined;
  } catch {
    url = undefined;
  }
  if (!url || !/^https?:$/.test(url.protocol)) throw new AdminError(400, "invalid_url", "url must be an http:// or https:// URL of at most 2000 characters");
  if (url.username || url.password) throw new AdminError(400, "invalid_url", "url must not contain credentials: verify the webhook-signature header instead");
  const problem = webhookUrlProblem(url, allowPrivate);
  if (problem) throw new AdminError(400, "url_not_allowed", problem);
  return url.href;
}

function readEvents(value: unknown): EventType[] {
  if (value === undefined) return [];
  if (!Array.isArray(value) || value.length > EVENT_TYPES.length || !value.every((v) => typeof v === "string" && (EVENT_TYPES as readonly string[]).includes(v))) {
    throw new AdminError(400, "invalid_events", `events must be a list of ${EVENT_TYPES.join(", ")} (omit it for all)`);
  }
  return [...new Set(value as EventType[])];
}

function endpointId(id: string): string {
  if (!ENDPOINT_ID.test(id)) throw new AdminError(404, "not_found", `no webhook ${id.slice(0, 100)}`);
  return id;
}

/** Routes of the webhook admin API, mounted after the admin-token middleware. */
export function webhookRoutes() {
  const app = new Hono<HubEnv>();

  app.post("/admin/webhooks", async (c) => {
    readQuery(c.req.url, {});
    const body = await readBody(c.req.raw, ["url", "events", "label"]);
    const url = readUrl(body.url, (await readConfig(c.env)).webhooks.allowPrivateUrls);
    const events = readEvents(body.events);
    if (body.label !== undefined && (typeof body.label !== "string" || body.label.length > 200)) throw new AdminError(400, "invalid_label", "label must be a string of at most 200 characters");
    const created = await outbox(c.env).createEndpoint({ url, events, ...(typeof body.label === "string" ? { label: body.label } : {}) });
    // The signing secret is in this response only.
    return c.json({ ...created.endpoint, secret: created.secret }, 201);
  });

  app.get("/admin/webhooks", async (c) => {
    const query = readListQuery(c.req.url, ENDPOINT_CURSOR, ["enabled", "disabled"]);
    const page = await outbox(c.env).listEndpoints({
      limit: query.limit,
      ...(query.cursor ? { cursor: Number(query.cursor) } : {}),
      ...(query.q ? { like: likePattern(query.q) } : {}),
      ...(query.state ? { disabled: query.state === "disabled" } : {}),
    });
    return c.json({ webhooks: page.webhooks, cursor: page.cursor !== undefined ? String(page.cursor) : null });
  });

  app.get("/admin/webhooks/deliveries", async (c) => c.json(await deliveryPage(c.env, undefined, c.req.url)));

  app.get("/admin/webhooks/:id", async (c) => {
    readQuery(c.req.url, {});
    const view = await outbox(c.env).getEndpoint(endpointId(c.req.param("id")));
    if (!view) throw new AdminError(404, "not_found", `no webhook ${c.req.param("id")}`);
    return c.json(view);
  });

  app.delete("/admin/webhooks/:id", async (c) => {
    readQuery(c.req.url, {});
    await readBody(c.req.raw, []);
    if (!(await outbox(c.env).deleteEndpoint(endpointId(c.req.param("id"))))) throw new AdminError(404, "not_found", `no webhook ${c.req.param("id")}`);
    return c.json({ id: c.req.param("id"), removed: true });
  });

  app.post("/admin/webhooks/:id/enable", async (c) => {
    readQuery(c.req.url, {});
    await readBody(c.req.raw, []);
    const view = await outbox(c.env).enableEndpoint(endpointId(c.req.param("id")));
    if (!view) throw new AdminError(404, "not_found", `no webhook ${c.req.param("id")}`);
    return c.json(view);
  });

  // A `webhook.test` event to this endpoint only: checks the URL and the receiver's verification.
  app.post("/admin/webhooks/:id/test", async (c) => {
    readQuery(c.req.url, {});
    await readBody(c.req.raw, []);
    const id = endpointId(c.req.param("id"));
    const box = outbox(c.env);
    const view = await box.getEndpoint(id);
    if (!view) throw new AdminError(404, "not_found", `no webhook ${id}`);
    if (view.disabledAt) throw new AdminError(409, "webhook_disabled", `webhook ${id} is disabled (${view.disabledReason}): POST /admin/webhooks/${id}/enable first`);
    const { messageId } = await box.publish({ type: TEST_EVENT, timestamp: new Date().toISOString(), data: { endpointId: id } }, id);
    return c.json({ messageId }, 202);
  });

  // A new signing secret (shown once); the old one signs beside it for 24 hours.
  app.post("/admin/webhooks/:id/rotate-secret", async (c) => {
    readQuery(c.req.url, {});
    await readBody(c.req.raw, []);
    const rotated = await outbox(c.env).rotateSecret(endpointId(c.req.param("id")));
    if (!rotated) throw new AdminError(404, "not_found", `no webhook ${c.req.param("id")}`);
    return c.json({ ...rotated.endpoint, secret: rotated.secret });
  });

  // Sends a failed (or delivered) event again, with the whole retry schedule.
  app.post("/admin/webhooks/:id/deliveries/:messageId/retry", async (c) => {
    readQuery(c.req.url, {});
    await readBody(c.req.raw, []);
    const id = endpointId(c.req.param("id"));
    const messageId = c.req.param("messageId");
    const result = MESSAGE_ID.test(messageId) ? await outbox(c.env).retryMessage(id, messageId) : undefined;
    if (result === undefined) throw new AdminError(404, "not_found", `no delivery ${messageId.slice(0, 100)} to webhook ${id}`);
    if (result === "pending") throw new AdminError(409, "delivery_pending", `${messageId} is still being tried`);
    if (result === "disabled") throw new AdminError(409, "webhook_disabled", `webhook ${id} is disabled: POST /admin/webhooks/${id}/enable first`);
    return c.json(result, 202);
  });

  app.get("/admin/webhooks/:id/deliveries", async (c) => {
    const id = endpointId(c.req.param("id"));
    if (!(await outbox(c.env).getEndpoint(id))) throw new AdminError(404, "not_found", `no webhook ${id}`);
    return c.json(await deliveryPage(c.env, id, c.req.url));
  });

  return app;
}
