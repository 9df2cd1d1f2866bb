import type { NewOrderAbout } from "../acme/issuance/context.ts";
import type { AdmissionRequest } from "../budget/fair-queue.ts";
import type { Admission, CaBudgets } from "./ca-budgets.ts";

/**
 * What one issuance spends of its CA's budget: the admission it waited for before the lock, and one
 * more spend for every further newOrder it sends, so the fleet's buckets count what the CA counts.
 * Let's Encrypt counts New Orders per Account at each newOrder — a retry after validation failed
 * (a challenge-type switch) and the order sent again without `replaces` after `alreadyReplaced` are
 * orders too — and spends the per-issuance limits (Certificates per Registered Domain, per Exact Set
 * of Identifiers) once, when it issues (https://letsencrypt.org/docs/rate-limits/). So a further
 * order spends the account's bucket only, unless no spend of this issuance has held the
 * per-issuance buckets yet (the admission was an exempt ARI renewal, or there was none: a resumed
 * order). A further order waits in the queue ahead of first issuances and renewals that expire later
 * (it continues an issuance already under way), and a wait beyond the manager's bound ends the
 * issuance with `BudgetSpentError`, nothing sent.
 */
export class OrderSpends {
  readonly #made: Admission[] = [];
  /** Spends whose newOrder the CA has answered (counted from then: see {@link ordered}). */
  readonly #answered = new Set<Admission>();
  #unsent: Admission | undefined;
  /** A spend of this issuance holds its per-issuance buckets (domain, name set). */
  #perIssuance: boolean;
  /** A finalize was (about to be) sent: the CA may have issued, and spent the per-issuance limits. */
  #finalizing = false;

  /**
   * @param admitted The admission waited for before the issuance, undefined when none (a CA without
   *   limits, or a resumed order whose admission was given back).
   */
  constructor(
    private readonly budgets: CaBudgets,
    private readonly directoryUrl: string,
    private readonly request: AdmissionRequest,
    admitted: Admission | undefined,
    private readonly now: () => number,
    private readonly signal: AbortSignal | undefined,
  ) {
    this.#unsent = admitted;
    this.#perIssuance = admitted !== undefined && !this.#exempt(admitted.request.replaces === true);
  }

  /** Right before a newOrder request: the admission's spends count from now, or a further spend is made (waiting for it). */
  async beforeNewOrder(order: NewOrderAbout): Promise<void> {
    const unsent = this.#unsent;
    this.#unsent = undefined;
    if (unsent && (unsent.request.replaces === true) === order.replaces) {
      await this.#sending(unsent);
      return;
    }
    // The admission was for an order with `replaces` and this one goes without: it was not used.
    if (unsent) await this.budgets.giveBack(unsent);
    const request: AdmissionRequest = {
      ...this.request,
      replaces: order.replaces,
      expiresAt: Math.min(this.request.expiresAt ?? Infinity, this.now()),
      retry: true,
      ...(this.#perIssuance ? { kinds: ["orders"] as const } : {}),
    };
    const admitted = await this.budgets.admit(this.directoryUrl, request, this.signal);
    if (!this.#exempt(order.replaces)) this.#perIssuance = true;
    if (admitted) await this.#sending(admitted);
  }

  /** Right before an order's first finalize: every per-issuance spend counts from now (the CA spends those when it issues). */
  async beforeFinalize(): Promise<void> {
    this.#finalizing = true;
    for (const admission of this.#made) await this.budgets.sending(admission, ["domain", "nameset"]);
  }

  /**
   * An order exists (the CA answered its newOrder, or a resumed one was read): the account's spend
   * for the newOrder just sent counts from no earlier than now — the CA counted it by then, however
   * long the request took to reach it (see `FleetBudget.sent`).
   */
  async ordered(): Promise<void> {
    const last = this.#made.at(-1);
    if (!last || this.#answered.has(last)) return;
    this.#answered.add(last);
    await this.budgets.sent(last, ["orders"]);
  }

  /** The certificate is issued: every per-issuance spend counts from no earlier than now (the CA spent them at finalize). */
  async issued(): Promise<void> {
    for (const admission of this.#made) await this.budgets.sent(admission, ["domain", "nameset"]);
  }

  /**
   * The issuance failed. The admission whose newOrder was never sent goes back whole; and unless a
   * finalize was sent, so did the per-issuance spends (registered domain, name set) of the orders
   * that were sent: Let's Encrypt spends those only when it issues, so a name that fails validation
   * attempt after attempt does not use up its registered domain's certificates in the budget while
   * the CA's stay unspent. The account's spends stay: the CA counted each newOrder.
   */
  async failed(): Promise<void> {
    const unsent = this.#unsent;
    this.#unsent = undefined;
    await this.budgets.giveBack(unsent);
    if (this.#finalizing) return;
    for (const admission of this.#made.splice(0)) {
      await this.budgets.giveBack({ ...admission, spent: admission.spent.filter((ref) => ref.kind !== "orders") });
    }
  }

  async #sending(admission: Admission): Promise<void> {
    this.#made.push(admission);
    await this.budgets.sending(admission, ["orders"]);
  }

  /** Whether an order with (or without) `replaces` spends nothing at this CA. */
  #exempt(replaces: boolean): boolean {
    return replaces && this.budgets.for(this.directoryUrl)?.budget.limits.replacementsExempt === true;
  }
}
