// The simulated window's Worker (test/support/worker-day.ts): the real edgecert Worker — cron handler, renewal
// index, dispatchers, outbox, storage — with one part swapped: each certificate's renewer models its
// ACME exchange against the CA stand-in instead of running it. Bundled like workers/index.ts.
import worker from "../../../workers/index.ts";
import type { Env } from "../../../workers/env.ts";
import { tick } from "../../../workers/scheduled.ts";
import { startTick, virtualNow } from "./sim-clock.ts";
import type { SimEnv } from "./sim-env.ts";
import { recordOutcomes, takeStats } from "./sim-stats.ts";

// Every Durable Object class of the Worker; the two below replace theirs (a module's own export wins over `export *`).
export * from "../../../workers/index.ts";
export { SimRenewalIndex as RenewalIndex } from "./sim-index.ts";
export { ModelledRenewer as CertificateRenewer } from "./modelled-renewer.ts";

export default {
  fetch(request, env, ctx) {
    if (new URL(request.url).pathname === "/__sim/stats") return Response.json({ ...takeStats(), now: virtualNow() });
    return worker.fetch(request, env as Env, ctx);
  },
  // workers/index.ts's scheduled(), keeping what the tick returns: each renewal's outcome and error.
  scheduled(controller, env, ctx) {
    startTick(controller.scheduledTime);
    // The tick tells time by the virtual clock: its dispatch window is virtual minutes too.
    ctx.waitUntil(tick(env as Env, controller.scheduledTime, virtualNow).then(recordOutcomes));
  },
} satisfies ExportedHandler<SimEnv>;
