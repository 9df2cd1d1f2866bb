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
  /** Awaited right before each order's first finalize request (see `ObtainCertificateOptions.beforeFinalize`). */
  readonly beforeFinalize: (() => Promise<void>) | undefined;
  /** Awaited right before each newOrder request (see `ObtainCertificateOptions.beforeNewOrder`). */
  readonly beforeNewOrder: ((order: NewOrderAbout) => Promise<void>) | undefined;
  /** The orders whose finalize hook ran. */
  readonly finalizing: Set<string>;
  /** Whether the new order is resent after a rate-limit refusal (see `ObtainCertificateOptions.resendRateLimited`). */
  readonly resendRateLimited: boolean;
}

/** What the caller's `beforeNewOrder` hook is told about the order about to be requested. */
export interface NewOrderAbout {
  /** 1 for this call's first order; 2 and up for a new order after validation failed (a challenge-type switch). */
  readonly attempt: number;
  /** Whether it names the certificate it replaces (RFC 9773 §5): false for the order sent again without it after `alreadyReplaced`. */
  readonly replaces: boolean;
}

/** Errors the caller's hooks threw: they reach the caller as thrown, not wrapped in an {@link IssuanceError}. */
const fromCaller = new WeakSet<object>();

async function callerHook(hook: () => Promise<void>): Promise<void> {
  try {
    await hook();
  } catch (err) {
    if (typeof err === "object" && err !== null) fromCaller.add(err);
    throw err;
  }
}

/**
 * Runs the issuance's `beforeFinalize` hook before `orderUrl`'s first finalize: once per order, so
 * when a first order went invalid after an early finalize, the order that is issued is announced too.
 */
export async function aboutToFinalize(ctx: IssuanceContext, orderUrl: string): Promise<void> {
  const hook = ctx.beforeFinalize;
  if (!hook || ctx.finalizing.has(orderUrl)) return;
  ctx.finalizing.add(orderUrl);
  await callerHook(hook);
}

/** Runs the issuance's `beforeNewOrder` hook: every newOrder request this issuance sends is announced. */
export async function aboutToOrder(ctx: IssuanceContext, order: NewOrderAbout): Promise<void> {
  const hook = ctx.beforeNewOrder;
  if (hook) await callerHook(() => hook(order));
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
    if (typeof cause === "object" && cause !== null && fromCaller.has(cause)) throw cause;
    const details: ConstructorParameters<typeof IssuanceError>[2] = { cause };
    if (identifier) details.identifier = identifier;
    throw new IssuanceError(name, (cause as Error)?.message ?? String(cause), details);
  }
}
