// The real edgecert Worker with its CertificateRenewer counting what each invocation sends (subrequests,
// KV operations, calls open at once): bench/renewer-cost.ts measures real renewals against Pebble with it.
import { CertificateRenewer as RealRenewer, type RenewerResult } from "../../../workers/certificate-renewer.ts";
import worker from "../../../workers/index.ts";
import type { Env } from "../../../workers/env.ts";
import { renewalIndex, type IndexEntry } from "../../../workers/renewal-index.ts";
import { countGlobalFetch, countingEnv, resetCounts } from "./invocation-counter.ts";

// Every Durable Object class of the Worker; CertificateRenewer below replaces its own (a module's export wins over `export *`).
export * from "../../../workers/index.ts";

countGlobalFetch();
let counting: { id: string } | undefined;

/**
 * The real renewer, its bindings counted (GET /__renew?id= runs one). Counting starts with a run and goes on through what the run
 * left to `waitUntil` (its webhook event); GET /__counts returns the run's id and counts so far.
 */
export class CertificateRenewer extends RealRenewer {
  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, countingEnv(env));
  }

  override run(entry: IndexEntry, at: number, force = false): Promise<RenewerResult> {
    resetCounts();
    counting = { id: entry.id };
    return super.run(entry, at, force);
  }
}

export default {
  async fetch(request, env, ctx) {
    const url = new URL(request.url);
    if (url.pathname === "/__renew") {
      // As the dispatcher calls it, forced (the admin API's renew: the same CA exchange as a due renewal).
      const id = url.searchParams.get("id") ?? "";
      const entry = await renewalIndex(env).get(id);
      if (!entry) return new Response("no such entry", { status: 404 });
      return Response.json(await env.CERTIFICATE_RENEWER.get(env.CERTIFICATE_RENEWER.idFromName(id)).run(entry, Date.now(), true));
    }
    if (url.pathname === "/__counts") return Response.json(counting ? { id: counting.id, ...resetCounts() } : null);
    return worker.fetch(request, env, ctx);
  },
  scheduled: worker.scheduled,
} satisfies ExportedHandler<Env>;
