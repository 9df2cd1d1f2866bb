import { mapConcurrent } from "../concurrency.ts";
import { IssuanceError, type ValidationFailure } from "../issuance-error.ts";
import { AcmeProblem } from "../problem.ts";
import type { AcmeChallenge, AcmeIdentifier, AcmeOrder } from "../types.ts";
import { allowedChallengeTypes } from "./challenge-selection.ts";
import { identifierKey, type ChallengeTask } from "./authorizations.ts";
import { runStep, type IssuanceContext } from "./context.ts";
import { firstPollDelay, type PollSignals } from "./poll-timing.ts";

/** Problem types a different challenge type might avoid (RFC 8555 §6.7). */
const SWITCHABLE = new Set(["connection", "dns", "tls", "unauthorized", "incorrectResponse", "caa"]);

/** What {@link validateChallenges} needs to decide about switching challenge types. */
export interface SwitchPolicy {
  /** Whether another order may be tried. */
  mayRetry: boolean;
  solverTypes: readonly string[];
  /** Challenge types that failed per identifier; this step adds to it. */
  avoid: Map<string, Set<string>>;
  attempt: number;
}

/**
 * Validates the tasks' authorizations (RFC 8555 §7.5.1): present every challenge, wait for the
 * solvers, accept them all, then poll the order — one URL — rather than each authorization. Returns
 * the settled order, or "retry" when validation failed in a way another challenge type may avoid (the
 * pending authorizations are deactivated first). Every presented challenge is cleaned up, whatever
 * happens.
 */
export async function validateChallenges(
  ctx: IssuanceContext,
  order: AcmeOrder,
  tasks: ChallengeTask[],
  policy: SwitchPolicy,
): Promise<AcmeOrder | "retry"> {
  const presented: ChallengeTask[] = [];
  try {
    await presentAll(ctx, tasks, presented);
    const signals = await acceptAll(ctx, tasks);
    const settled = await settle(ctx, order, tasks, signals);
    if (settled.status === "ready" || settled.status === "valid" || settled.status === "processing") {
      reportValid(ctx, tasks);
      return settled;
    }
    const failures = await diagnose(ctx, tasks, settled);
    if (policy.mayRetry && switchable(failures, policy)) {
      ctx.progress({
        type: "challenge_switch",
        durationMs: 0,
        attempt: policy.attempt,
        failures: failures.map((f) => ({ identifier: f.identifier, challengeType: f.challengeType, problem: f.problem?.kind })),
      });
      await deactivatePending(ctx, tasks);
      return "retry";
    }
    const first = failures[0];
    const summary = failures.map((f) => `${f.identifier.value} (${f.challengeType}): ${f.problem?.detail ?? "failed"}`).join("; ");
    throw new IssuanceError("validation", summary || `order ${settled.url} is ${settled.status}`, {
      code: "challenge_failed",
      failures,
      ...(first?.identifier ? { identifier: first.identifier } : {}),
      ...(first?.problem ? { problem: first.problem } : {}),
    });
  } finally {
    await cleanupAll(ctx, presented);
  }
}

async function presentAll(ctx: IssuanceContext, tasks: ChallengeTask[], presented: ChallengeTask[]): Promise<void> {
  const started = Date.now();
  await mapConcurrent(tasks, ctx.concurrency, (t) => {
    presented.push(t);
    return runStep(ctx, "present", () => t.solver.present(t.challenge, t.ctx), t.ctx.identifier);
  });
  await mapConcurrent(tasks, tasks.length, (t) =>
    t.solver.wait ? runStep(ctx, "wait", () => t.solver.wait!(t.challenge, t.ctx), t.ctx.identifier) : Promise.resolve(),
  );
  ctx.progress({ type: "challenges_presented", count: tasks.length, durationMs: Date.now() - started });
}

/**
 * Accepts every challenge not known valid, up to `concurrency` at once (with nonces reserved for that
 * many when the CA is far). Returns what the first poll should be timed by.
 */
async function acceptAll(ctx: IssuanceContext, tasks: ChallengeTask[]): Promise<PollSignals> {
  const started = Date.now();
  const toAccept = tasks.filter((t) => !t.valid);
  await ctx.client.reserveNonces(Math.min(ctx.concurrency, toAccept.length), { signal: ctx.signal });
  const mark = ctx.client.latency.samples;
  let retryAfterMs: number | undefined;
  let slowestCallMs = 0;
  await mapConcurrent(toAccept, ctx.concurrency, async (t) => {
    t.acceptedAt = Date.now();
    const answered = await runStep(ctx, "accept", () => ctx.client.acceptChallenge(t.challenge.url, { signal: ctx.signal }), t.ctx.identifier);
    slowestCallMs = Math.max(slowestCallMs, Date.now() - t.acceptedAt);
    if (answered.retryAfterMs !== undefined) retryAfterMs = Math.max(retryAfterMs ?? 0, answered.retryAfterMs);
    if (answered.status === "valid") {
      t.valid = true;
      reportValid(ctx, [t]);
    } else if (answered.status === "invalid") t.failed = problemOf(answered, t.ctx.identifier);
  });
  ctx.progress({ type: "challenges_accepted", count: toAccept.length, durationMs: Date.now() - started });
  return {
    retryAfterMs,
    serverMs: ctx.client.latency.serverTimeSince(mark),
    roundTripMs: ctx.client.latency.roundTripMs,
    far: ctx.client.isFar(),
    slowestCallMs,
  };
}

/** The order once validation settled; without asking when every challenge answered `valid`. */
async function settle(ctx: IssuanceContext, order: AcmeOrder, tasks: ChallengeTask[], signals: PollSignals): Promise<AcmeOrder> {
  if (tasks.every((t) => t.valid)) return { ...order, status: "ready" };
  if (tasks.some((t) => t.failed)) return runStep(ctx, "validation", () => ctx.client.getOrder(order.url, { signal: ctx.signal }));
  return runStep(ctx, "validation", () =>
    ctx.client.waitOrder(order.url, { delayFirst: true, initialDelayMs: firstPollDelay(signals), ...ctx.poll, signal: ctx.signal }),
  );
}

/** Reports `authorization_valid` for tasks not reported yet. */
function reportValid(ctx: IssuanceContext, tasks: ChallengeTask[]): void {
  const now = Date.now();
  for (const t of tasks) {
    if (t.reported) continue;
    t.reported = true;
    ctx.progress({
      type: "authorization_valid",
      identifier: t.ordered,
      challengeType: t.challenge.type,
      reused: false,
      durationMs: t.acceptedAt === undefined ? 0 : now - t.acceptedAt,
    });
  }
}

/** Reads the failed authorizations (only now: a successful order never needs them). */
async function diagnose(ctx: IssuanceContext, tasks: ChallengeTask[], settled: AcmeOrder): Promise<ValidationFailure[]> {
  const failures: ValidationFailure[] = [];
  const unknown = tasks.filter((t) => !t.valid && !t.failed);
  const fetched = await mapConcurrent(unknown, ctx.concurrency, (t) =>
    ctx.client.getAuthorization(t.authz.url, { signal: ctx.signal }).catch(() => undefined),
  );
  unknown.forEach((t, i) => {
    const authz = fetched[i];
    if (authz?.status !== "invalid") return;
    const ch = authz.challenges.find((c) => c.status === "invalid") ?? authz.challenges.find((c) => c.type === t.challenge.type);
    t.failed = ch ? problemOf(ch, t.ctx.identifier) : new AcmeProblem({ detail: "authorization invalid" }, { identifier: t.ctx.identifier });
  });
  for (const t of tasks) {
    if (t.failed) failures.push({ identifier: t.ordered, challengeType: t.challenge.type, problem: t.failed });
  }
  // RFC 8555 §6.7.1: subproblems name identifiers; use them when the authorizations said nothing.
  if (failures.length === 0 && settled.error) {
    const problem = new AcmeProblem(settled.error, { url: settled.url });
    for (const sub of problem.subproblems) {
      if (sub.identifier) failures.push({ identifier: sub.identifier, problem: new AcmeProblem(sub, { identifier: sub.identifier }) });
    }
  }
  return failures;
}

/** Whether every failure is of a kind another challenge type could avoid, and one is left to try. */
function switchable(failures: ValidationFailure[], policy: SwitchPolicy): boolean {
  return (
    failures.length > 0 &&
    failures.every((f) => {
      if (!f.problem || !SWITCHABLE.has(f.problem.kind)) return false;
      const avoided = policy.avoid.get(identifierKey(f.identifier)) ?? new Set<string>();
      if (f.challengeType) avoided.add(f.challengeType);
      policy.avoid.set(identifierKey(f.identifier), avoided);
      return allowedChallengeTypes(f.identifier, policy.solverTypes).some((t) => !avoided.has(t));
    })
  );
}

async function deactivatePending(ctx: IssuanceContext, tasks: ChallengeTask[]): Promise<void> {
  // RFC 8555 §7.5.2: abandon what is still pending so it does not linger on the account.
  await mapConcurrent(tasks.filter((t) => !t.valid && !t.failed), ctx.concurrency, (t) =>
    ctx.client.deactivateAuthorization(t.authz.url, { signal: ctx.signal }).catch(() => undefined),
  );
}

async function cleanupAll(ctx: IssuanceContext, presented: ChallengeTask[]): Promise<void> {
  // Cleanup runs even after an abort, under a signal of its own.
  const cleanupSignal = AbortSignal.timeout(30_000);
  await Promise.all(
    presented.map(async (t) => {
      try {
        await t.solver.cleanup(t.challenge, { ...t.ctx, signal: cleanupSignal });
      } catch (err) {
        ctx.logger.log("warn", "obtain.cleanup_failed", { identifier: t.ctx.identifier.value, error: String(err) });
      }
    }),
  );
}

function problemOf(challenge: AcmeChallenge, identifier: AcmeIdentifier): AcmeProblem {
  return new AcmeProblem(challenge.error ?? { detail: `challenge ${challenge.type} is ${challenge.status}` }, { identifier, url: challenge.url });
}
