import { EdgecertError, type EdgecertErrorCode } from "../errors.ts";
import { AcmeProblem } from "./problem.ts";
import type { AcmeIdentifier } from "./types.ts";

/** The step of {@link obtainCertificate} an error happened in. */
export type IssuanceStep =
  | "validate-input"
  | "account"
  | "new-order"
  | "authorizations"
  | "present"
  | "wait"
  | "accept"
  | "validation"
  | "finalize"
  | "download";

/** One identifier that failed validation, with the challenge type tried and what the CA said. */
export interface ValidationFailure {
  /** The identifier whose authorization failed. */
  identifier: AcmeIdentifier;
  /** The challenge type that was tried, when one was. */
  challengeType?: string;
  /** The CA's problem for it (the authorization's or challenge's `error`). */
  problem?: AcmeProblem;
  /** A local failure (the solver threw, a wait ran out), when the CA said nothing. */
  error?: unknown;
}

/**
 * Why an issuance failed: which step, which identifier(s), and the CA's problem when there was one.
 * `code` is that of the underlying error (`acme_problem`, `challenge_failed`, `timeout`, `network` …).
 */
export class IssuanceError extends EdgecertError {
  /** The step that failed. */
  readonly step: IssuanceStep;
  /**  undefined;|The identifier it failed for, when it concerns one. */
  readonly identifier: AcmeIdentifier | undefined;
  /**  undefined;|The CA's problem document, when the CA sent one. */
  readonly problem: AcmeProblem | undefined;
  /** Each identifier that failed validation, with its challenge type and problem. */
  readonly failures: ValidationFailure[];

  /**
   * An issuance failure.
   * @param step The step that failed.
   * @param message What happened.
   * @param details Code, identifier, problem, failures and cause.
   */
  constructor(
    step: IssuanceStep,
    message: string,
    details: { code?: EdgecertErrorCode; identifier?: AcmeIdentifier; problem?: AcmeProblem; failures?: ValidationFailure[]; cause?: unknown } = {},
  ) {
    const code = details.code ?? (details.cause instanceof EdgecertError ? details.cause.code : "challenge_failed");
    super(code, `${step}: ${message}`, { cause: details.cause });
    this.name = "IssuanceError";
    this.step = step;
    this.identifier = details.identifier;
    this.problem = details.problem ?? (details.cause instanceof AcmeProblem ? details.cause : undefined);
    this.failures = details.failures ?? [];
  }

  /** Retry-After of the CA's problem, in ms, when it sent one. */
  get retryAfterMs(): number | undefined {
    return this.problem?.retryAfterMs;
  }
}

/** Why a recorded order cannot be resumed (see {@link OrderNotResumableError}). */
export type UnresumableOrderReason = "not_found" | "expired" | "invalid" | "deactivated" | "different_identifiers";

/**
 * The order `obtainCertificate` was asked to resume (`resumeOrderUrl`) cannot go on: the CA no
 * longer knows it (404), it expired, it is invalid or deactivated, or it is for other identifiers.
 * Nothing was created; the caller decides whether to drop what it recorded and order anew.
 */
export class OrderNotResumableError extends IssuanceError {
  /** The order that was to be resumed. */
  readonly orderUrl: string;
  /** Why it cannot go on. */
  readonly reason: UnresumableOrderReason;

  /**
   * A recorded order that cannot be resumed.
   * @param orderUrl The recorded order.
   * @param reason Why it cannot be resumed.
   * @param details The CA's problem and the cause, when there are.
   */
  constructor(orderUrl: string, reason: UnresumableOrderReason, details: { problem?: AcmeProblem; cause?: unknown } = {}) {
    super("new-order", `cannot resume order ${orderUrl}: ${reason.replace(/_/g, " ")}`, { code: "invalid_input", ...details });
    this.name = "OrderNotResumableError";
    this.orderUrl = orderUrl;
    this.reason = reason;
  }
}
