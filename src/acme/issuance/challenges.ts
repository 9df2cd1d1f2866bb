import { sleep, timeoutSignal } from "../../abort.ts";
import { mapConcurrent } from "../concurrency.ts";
import { IssuanceError, type ValidationFailure } from "../issuance-error.ts";
import { AcmeProblem } from "../problem.ts";
import type { AcmeAuthorization, AcmeChallenge, AcmeIdentifier, AcmeOrder } from "../types.ts";
import { allowedChallengeTypes } from "./challenge-selection.ts";
import { fetchAuthorizations, identifierKey, planChallenge, planChallenges, type ChallengePlan, type ChallengeTask } from "./authorizations.ts";
import { DNS_PERSIST_01 } from "../dns-persist/rules.ts";
import { guarded, runStep, type IssuanceContext } from "./context.ts";
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
 * Validates the order's authorizations (RFC 8555 §7.5, §7.5.1) and returns the settled order, or
 * "retry" when validation failed in a way another challenge type may avoid (the pending authorizations
 * are deactivated first). Each authorization is read, its challenge chosen, presented (and waited for,
 * for solvers that wait) and accepted in one go, up to `concurrency` at once: the first challenges
 * are on their way while later authorizations are still being read, so a large order costs about
 * 2N / concurrency round trips there, not 2 × ⌈N / concurrency⌉. When a dns-persist-01 solver is
 * configured every authorization is read and checked first (a missing persistent record refuses the
 * whole order before any challenge is answered), then all are presented and accepted. Then the order
 * is polled — one URL — rather than each authorization; `finalizeEarly`, when given, replaces the
 * first poll (see {@link settle}). Every presented challenge is cleaned up, whatever happens.
 */
export async function validateAuthorizations(
  ctx: IssuanceContext,
  order: AcmeOrder,
  plan: ChallengePlan,
  policy: SwitchPolicy,
  finalizeEarly?: () => Promise<AcmeOrder | undefined>,
): Promise<AcmeOrder | "retry"> {
  const presented: ChallengeTask[] = [];
  try {
    const { tasks, signals } = plan.solvers[DNS_PERSIST_01] ? await checkedFirst(ctx, order, plan, presented) : await pipelined(ctx, order, plan, presented);
    if (tasks.length === 0) return { ...order, status: "ready" };
    const settled = await settle(ctx, order, tasks, signals, finalizeEarly);
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

/** The tasks validation started, and what the first poll should be timed by. */
interface Started {
  tasks: ChallengeTask[];
  signals: PollSignals;
}

/** Every authorization read and planned, then every challenge presented, then all accepted. */
async function checkedFirst(ctx: IssuanceContext, order: AcmeOrder, plan: ChallengePlan, presented: ChallengeTask[]): Promise<Started> {
  const started = Date.now();
  const authzs = await fetchAuthorizations(ctx, order);
  const tasks = await planChallenges(ctx, authzs, plan);
  reportAuthorizations(ctx, order, authzs, started);
  if (tasks.length === 0) return { tasks, signals: noSignals() };
  await presentAll(ctx, tasks, presented);
  return { tasks, signals: await acceptAll(ctx, tasks) };
}

/**
 * Each authorization read, planned, presented and accepted in one lane, up to `concurrency` lanes
 * (with nonces reserved for that many when the CA is far; each response's nonce then signs the lane's
 * next request). The step events keep their order: `authorizations` when the last one is read,
 * `challenges_presented` and `challenges_accepted` when all are, `authorization_valid` after those.
 */
async function pipelined(ctx: IssuanceContext, order: AcmeOrder, plan: ChallengePlan, presented: ChallengeTask[]): Promise<Started> {
  const started = Date.now();
  const urls = order.authorizations;
  const authzs = new Array<AcmeAuthorization>(urls.length);
  const slots = new Array<ChallengeTask | undefined>(urls.length);
  let read = 0;
  let acceptStarted: number | undefined;
  const accepts = acceptTracker(ctx);
  await runStep(ctx, "authorizations", () => ctx.client.reserveNonces(Math.min(ctx.concurrency, urls.length), { signal: ctx.signal }));
  await mapConcurrent(urls, ctx.concurrency, async (url, i) => {
    const authz = await runStep(ctx, "authorizations", () => ctx.client.getAuthorization(url, { signal: ctx.signal }));
    authzs[i] = authz;
    if (++read === urls.length) reportAuthorizations(ctx, order, authzs, started);
    const task = await runStep(ctx, "authorizations", () => planChallenge(ctx, authz, plan));
    if (!task) return;
    slots[i] = task;
    presented.push(task);
    await runStep(ctx, "present", () => task.solver.present(task.challenge, task.ctx), task.ctx.identifier);
    if (task.solver.wait) await runStep(ctx, "wait", () => task.solver.wait!(task.challenge, task.ctx), task.ctx.identifier);
    if (task.valid) return;
    acceptStarted ??= Date.now();
    await accepts.accept(task);
  });
  const tasks = slots.filter((t): t is ChallengeTask => t !== undefined);
  if (tasks.length === 0) return { tasks, signals: noSignals() };
  ctx.progress({ type: "challenges_presented", count: tasks.length, durationMs: Date.now() - started });
  ctx.progress({ type: "challenges_accepted", count: accepts.count, durationMs: acceptStarted === undefined ? 0 : Date.now() - acceptStarted });
  return { tasks, signals: accepts.signals() };
}

/** The `authorizations` step event, and `authorization_valid` for those valid already (reused). */
function reportAuthorizations(ctx: IssuanceContext, order: AcmeOrder, authzs: AcmeAuthorization[], started: number): void {
  const pending = authzs.filter((a) => a.status !== "valid").length;
  ctx.progress({ type: "authorizations", orderUrl: order.url, total: authzs.length, pending, durationMs: Date.now() - started });
  for (const authz of authzs) {
    if (authz.status !== "valid") continue;
    const identifier = authz.wildcard ? { ...authz.identifier, value: `*.${authz.identifier.value}` } : authz.identifier;
    ctx.progress({ type: "authorization_valid", identifier, challengeType: undefined, reused: true, durationMs: 0 });
  }
}

const noSignals = (): PollSignals => ({ serverMs: 0, roundTripMs: undefined, far: false, slowestCallMs: 0 });

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
  const accepts = acceptTracker(ctx);
  await mapConcurrent(toAccept, ctx.concurrency, (t) => accepts.accept(t));
  ctx.progress({ type: "challenges_accepted", count: toAccept.length, durationMs: Date.now() - started });
  return accepts.signals();
}

/**
 * Sends accepts (RFC 8555 §7.5.1) and keeps what their responses say: a challenge answered `valid`
 * or `invalid` is marked on its task; the CA's `Retry-After`, its own time and the slowest call time
 * the first poll.
 */
function acceptTracker(ctx: IssuanceContext) {
  // From the first accept on: the requests before it (authorizations, nonces on new connections that
  // waited for a TLS handshake) say nothing about how long validation takes.
  let mark: number | undefined;
  let retryAfterMs: number | undefined;
  let slowestCallMs = 0;
  let count = 0;
  return {
    get count() {
      return count;
    },
    async accept(t: ChallengeTask): Promise<void> {
      count++;
      mark ??= ctx.client.latency.samples;
      t.acceptedAt = Date.now();
      const answered = await runStep(ctx, "accept", () => ctx.client.acceptChallenge(t.challenge.url, { signal: ctx.signal, ...guarded(ctx) }), t.ctx.identifier);
      slowestCallMs = Math.max(slowestCallMs, Date.now() - t.acceptedAt);
      if (answered.retryAfterMs !== undefined) retryAfterMs = Math.max(retryAfterMs ?? 0, answered.retryAfterMs);
      if (answered.status === "valid") {
        t.valid = true;
        t.validAt = Date.now();
      } else if (answered.status === "invalid") t.failed = problemOf(answered, t.ctx.identifier);
    },
    signals(): PollSignals {
      return {
        retryAfterMs,
        serverMs: ctx.client.latency.serverTimeSince(mark ?? ctx.client.latency.samples),
        roundTripMs: ctx.client.latency.roundTripMs,
        far: ctx.client.isFar(),
        slowestCallMs,
      };
    },
  };
}

/**
 * The order once validation settled; without asking when every challenge answered `valid`. Far from
 * the CA, `finalizeEarly` takes the first poll's place: a finalize sent while validation may still
 * run is either taken (the order was ready: one round trip saved, the order is now `processing`) or
 * refused with `orderNotReady` (RFC 8555 §7.4), no worse than a poll that found the order pending.
 */
async function settle(
  ctx: IssuanceContext,
  order: AcmeOrder,
  tasks: ChallengeTask[],
  signals: PollSignals,
  finalizeEarly: (() => Promise<AcmeOrder | undefined>) | undefined,
): Promise<AcmeOrder> {
  if (tasks.every((t) => t.valid)) return { ...order, status: "ready" };
  if (tasks.some((t) => t.failed)) return runStep(ctx, "validation", () => ctx.client.getOrder(order.url, { signal: ctx.signal }));
  const initialDelayMs = firstPollDelay(signals);
  if (finalizeEarly && signals.far && signals.retryAfterMs === undefined) {
    if (initialDelayMs > 0) await sleep(initialDelayMs, ctx.signal);
    const finalized = await runStep(ctx, "validation", finalizeEarly);
    if (finalized) return finalized;
  }
  return runStep(ctx, "validation", () => ctx.client.waitOrder(order.url, { delayFirst: true, initialDelayMs, ...ctx.poll, signal: ctx.signal }));
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
      durationMs: t.acceptedAt === undefined ? 0 : (t.validAt ?? now) - t.acceptedAt,
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
    ctx.client.deactivateAuthorization(t.authz.url, { signal: ctx.signal, ...guarded(ctx) }).catch(() => undefined),
  );
}

async function cleanupAll(ctx: IssuanceContext, presented: ChallengeTask[]): Promise<void> {
  // Cleanup runs even after an abort, under a signal of its own (whose timer stops with it).
  const cleanupTimeout = timeoutSignal(30_000);
  try {
    await Promise.all(
      presented.map(async (t) => {
        try {
          await t.solver.cleanup(t.challenge, { ...t.ctx, signal: cleanupTimeout.signal });
        } catch (err) {
          ctx.logger.log("warn", "obtain.cleanup_failed", { identifier: t.ctx.identifier.value, error: String(err) });
        }
      }),
    );
  } finally {
    cleanupTimeout.clear();
  }
}

function problemOf(challenge: AcmeChallenge, identifier: AcmeIdentifier): AcmeProblem {
  return new AcmeProblem(challenge.error ?? { detail: `challenge ${challenge.type} is ${challenge.status}` }, { identifier, url: challenge.url });
}
