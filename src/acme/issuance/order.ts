import type { NewOrderOptions } from "../client.ts";
import { sameIdentifiers } from "../identifiers.ts";
import { OrderNotResumableError } from "../issuance-error.ts";
import { AcmeProblem } from "../problem.ts";
import { assertOrderProfile, assertProfileOffered } from "../profiles.ts";
import type { AcmeIdentifier, AcmeOrder } from "../types.ts";
import { aboutToOrder, guarded, type IssuanceContext } from "./context.ts";

/** What a new order asks for beyond its identifiers. */
export interface OrderRequest {
  identifiers: AcmeIdentifier[];
  profile?: string | undefined;
  notBefore?: Date | string | undefined;
  notAfter?: Date | string | undefined;
  replaces?: string | undefined;
  /** This call's order number (1 for the first; see `NewOrderAbout.attempt`). */
  attempt: number;
}

/**
 * Reads back an order recorded earlier (crash recovery, RFC 8555 §7.1.3). Throws
 * {@link OrderNotResumableError} when the CA forgot it (404), it expired, is invalid or deactivated,
 * or names other identifiers.
 */
export async function resumeOrder(ctx: IssuanceContext, url: string, identifiers: AcmeIdentifier[]): Promise<AcmeOrder> {
  let order: AcmeOrder;
  try {
    order = await ctx.client.getOrder(url, { signal: ctx.signal });
  } catch (err) {
    if (err instanceof AcmeProblem && err.status === 404) throw new OrderNotResumableError(url, "not_found", { problem: err });
    throw err;
  }
  const stillOpen = order.status === "pending" || order.status === "ready";
  if (order.status === "expired" || (stillOpen && order.expires !== undefined && Date.parse(order.expires) <= Date.now())) {
    throw new OrderNotResumableError(url, "expired");
  }
  if (order.status === "invalid" || order.status === "deactivated") {
    const problem = order.error ? new AcmeProblem(order.error, { url }) : undefined;
    throw new OrderNotResumableError(url, order.status, problem ? { problem } : {});
  }
  if (!sameIdentifiers(order.identifiers, identifiers)) throw new OrderNotResumableError(url, "different_identifiers");
  return order;
}

/**
 * Creates the order (RFC 8555 §7.4). With `replaces`, an `alreadyReplaced` refusal (RFC 9773 §5: the
 * certificate already has a successor) is answered by ordering without it. The caller's
 * `beforeNewOrder` hook runs before each newOrder request: the CA counts every one (Let's Encrypt's
 * New Orders per Account), and one without `replaces` is no longer exempt from its limits.
 */
export async function createOrder(ctx: IssuanceContext, request: OrderRequest): Promise<AcmeOrder> {
  const { profile } = request;
  // draft-ietf-acme-profiles: only a profile the directory lists can be asked for, and the order says
  // which one it got.
  if (profile !== undefined) assertProfileOffered(await ctx.client.directory({ signal: ctx.signal }), profile, ctx.client.directoryUrl);
  const order = await createOrderAsked(ctx, request);
  if (profile !== undefined) assertOrderProfile(order, profile);
  return order;
}

async function createOrderAsked(ctx: IssuanceContext, request: OrderRequest): Promise<AcmeOrder> {
  const { client, signal, logger } = ctx;
  const options: NewOrderOptions = { identifiers: request.identifiers, signal, ...guarded(ctx), ...(ctx.resendRateLimited ? {} : { resendRateLimited: false }) };
  if (request.profile !== undefined) options.profile = request.profile;
  if (request.notBefore !== undefined) options.notBefore = request.notBefore;
  if (request.notAfter !== undefined) options.notAfter = request.notAfter;
  const { attempt } = request;
  // Without a hook, no await: the request goes out in the same turn as before hooks existed.
  const hooked = ctx.beforeNewOrder !== undefined;
  if (request.replaces === undefined) {
    if (hooked) await aboutToOrder(ctx, { attempt, replaces: false });
    return client.newOrder(options);
  }
  try {
    if (hooked) await aboutToOrder(ctx, { attempt, replaces: true });
    return await client.newOrder({ ...options, replaces: request.replaces });
  } catch (err) {
    if (!(err instanceof AcmeProblem && err.is("alreadyReplaced"))) throw err;
    logger.log("warn", "obtain.already_replaced", { replaces: request.replaces });
    if (hooked) await aboutToOrder(ctx, { attempt, replaces: false });
    return client.newOrder(options);
  }
}
