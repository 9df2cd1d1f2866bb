import { EdgecertError } from "../../errors.ts";
import type { Logger } from "../../logger.ts";
import type { AcmeClient } from "../client.ts";
import { IssuanceError, type IssuanceStep } from "../issuance-error.ts";
import type { PollOptions } from "../poll.ts";
import { abortError } from "../retry.ts";
import type { AcmeIdentifier } from "../types.ts";
import type { ProgressReport } from "./progress.ts";
import type { SendGuard } from "../send-guard.ts";

/** What every step of one issuance shares. */
export interface IssuanceContext {
  readonly client: AcmeClient;
  /** The caller's signal (a never-firing one when none was given): passed to every CA call. */
  readonly signal: AbortSignal;
  /** The caller's send guard, passed to every state-changing CA call (see {@link SendGuard}). */
  readonly guard: SendGuard | undefined;
  readonly logger: Logger;
  /** Most requests / solver calls in flight at once. */
  readonly concurrency: number;
  readonly poll: PollOptions | undefined;
  readonly progress: (report: ProgressReport) => void;
  /** Awaited once, right before the first finalize request is sent (see `ObtainCertificateOptions.beforeFinalize`). */
  beforeFinalize: (() => Promise<void>) | undefined;
}

/** Runs the issuance's `beforeFinalize` hook, once. */
export async function aboutToFinalize(ctx: IssuanceContext): Promise<void> {
  const hook = ctx.beforeFinalize;
  ctx.beforeFinalize = undefined;
  await hook?.();
}

/** The `guard` option for a state-changing CA call of this issuance (none when the caller gave none). */
export function guarded(ctx: IssuanceContext): { guard?: SendGuard } {
  return ctx.guard ? { guard: ctx.guard } : {};
}

/**
 * Runs one step, turning what it throws into an {@link IssuanceError} naming the step (and the
 * identifier, when there is one). After an abort, whatever a solver or request threw, the caller gets
 * the abort.
 */
export async function runStep<T>(ctx: IssuanceContext, name: IssuanceStep, fn: () => Promise<T>, identifier?: AcmeIdentifier): Promise<T> {
  try {
    return await fn();
  } catch (cause) {
    if (ctx.signal.aborted) throw abortError(ctx.signal);
    if (cause instanceof IssuanceError || (cause instanceof EdgecertError && cause.code === "aborted")) throw cause;
    const details: ConstructorParameters<typeof IssuanceError>[2] = { cause };
    if (identifier) details.identifier = identifier;
    throw new IssuanceError(name, (cause as Error)?.message ?? String(cause), details);
  }
}
