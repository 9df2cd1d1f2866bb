// The edgecert Worker: http-01 responder, admin API, cron-triggered renewal (see README "Deploy").
import { createApp } from "./app.ts";
import type { Env } from "./env.ts";
import { tick } from "./scheduled.ts";

export { CertificateRenewer } from "./certificate-renewer.ts";
export { RenewalIndex } from "./renewal-index.ts";
export { RenewalDispatcher } from "./renewal-dispatcher.ts";
export { CaBudgetQueue } from "./ca-budget-queue.ts";
export { WebhookOutbox } from "./hub/webhook-outbox.ts";
export { EdgecertStorageObject } from "../src/storage/durable-object.ts";

const app = createApp();

export default {
  fetch: app.fetch,
  async scheduled(controller, env, ctx) {
    ctx.waitUntil(
      tick(env, controller.scheduledTime).then(
        () => undefined,
        (err: unknown) => console.error(JSON.stringify({ level: "error", event: "worker.tick_failed", error: String(err) })),
      ),
    );
  },
} satisfies ExportedHandler<Env>;
