import { IssuanceError } from "../issuance-error.ts";
import { AcmeProblem } from "../problem.ts";
import type { AcmeOrder } from "../types.ts";
import { aboutToFinalize, guarded, runStep, type IssuanceContext } from "./context.ts";
import { firstPollDelay } from "./poll-timing.ts";

/**
 * Finalizes the order with the CSR (RFC 8555 §7.4) and waits until the CA issued the certificate.
 * An order that is already `processing` or `valid` (resumed after a crash) is only waited for.
 * Returns the `valid` order, which names the certificate URL.
 */
export function finalizeOrder(ctx: IssuanceContext, order: AcmeOrder, csr: Uint8Array): Promise<AcmeOrder & { certificate: string }> {
  const { client, signal } = ctx;
  return runStep(ctx, "finalize", async () => {
    let current = order;
    const started = Date.now();
    const mark = client.latency.samples;
    if (current.status === "ready") {
      try {
        await aboutToFinalize(ctx, current.url);
        current = await client.finalizeOrder(current, csr, { signal, ...guarded(ctx) });
      } catch (err) {
        // "ready" may have been inferred from challenge responses; the CA may not have caught up yet.
        if (!(err instanceof AcmeProblem && err.is("orderNotReady"))) throw err;
        current = await client.waitOrder(current.url, { ...ctx.poll, signal });
        if (current.status === "ready") current = await client.finalizeOrder(current, csr, { signal, ...guarded(ctx) });
      }
    }
    if (current.status === "processing" || current.status === "ready") {
      current = await client.waitOrder(current.url, {
        delayFirst: true,
        initialDelayMs: firstPollDelay({
          retryAfterMs: current.retryAfterMs,
          serverMs: client.latency.serverTimeSince(mark),
          roundTripMs: client.latency.roundTripMs,
          far: client.isFar(),
          slowestCallMs: Date.now() - started,
        }),
        ...ctx.poll,
        signal,
      });
    }
    if (current.status !== "valid" || !current.certificate) {
      const problem = current.error ? new AcmeProblem(current.error, { url: current.url }) : undefined;
      throw new IssuanceError("finalize", `order ended ${current.status}${problem ? `: ${problem.message}` : ""}`, {
        code: problem ? "acme_problem" : "bad_response",
        ...(problem ? { problem } : {}),
      });
    }
    ctx.progress({ type: "finalized", orderUrl: current.url, durationMs: Date.now() - started });
    return current as AcmeOrder & { certificate: string };
  });
}
