import type { Logger, LogLevel } from "../../logger.ts";
import type { AcmeIdentifier, AcmeStatus } from "../types.ts";

/** Fields every {@link ObtainProgressEvent} carries. */
export interface ObtainProgressBase {
  /** Milliseconds since `obtainCertificate` was called. */
  elapsedMs: number;
  /** How long the step this event ends took, in milliseconds. */
  durationMs: number;
}

/** The account was created or found (only when the client had none). */
export interface AccountProgress extends ObtainProgressBase {
  /** Discriminant. */
  type: "account";
  /** The account URL (`kid`). */
  accountUrl: string;
}

/** The order exists: created, or resumed from `resumeOrderUrl`. `attempt` counts orders tried (challenge switches). */
export interface OrderProgress extends ObtainProgressBase {
  /** Discriminant. */
  type: "order";
  /** The order URL. */
  orderUrl: string;
  /** The order's status when it was read. */
  status: AcmeStatus;
  /** Whether it was resumed rather than created. */
  resumed: boolean;
  /** Which order this is (1 unless a challenge switch made a new one). */
  attempt: number;
}

/** The order's authorizations were read; `pending` of `total` still need a challenge. */
export interface AuthorizationsProgress extends ObtainProgressBase {
  /** Discriminant. */
  type: "authorizations";
  /** The order URL. */
  orderUrl: string;
  /** Authorizations the order has. */
  total: number;
  /** Authorizations that still need a challenge. */
  pending: number;
}

/** Every challenge was presented by its solver (and `wait` returned, for solvers that have one). */
export interface ChallengesPresentedProgress extends ObtainProgressBase {
  /** Discriminant. */
  type: "challenges_presented";
  /** Challenges presented. */
  count: number;
}

/** The CA was told to validate every presented challenge. */
export interface ChallengesAcceptedProgress extends ObtainProgressBase {
  /** Discriminant. */
  type: "challenges_accepted";
  /** Challenges the CA was asked to validate. */
  count: number;
}

/**
 * One authorization is valid. `durationMs` runs from its challenge's accept to when edgecert learned
 * it was valid (from the accept response or the order turning ready); `reused` authorizations were
 * valid already and took no challenge.
 */
export interface AuthorizationValidProgress extends ObtainProgressBase {
  /** Discriminant. */
  type: "authorization_valid";
  /** The identifier now authorized (a wildcard as `*.name`). */
  identifier: AcmeIdentifier;
  /** The challenge type that validated it; undefined when `reused`. */
  challengeType: string | undefined;
  /** Whether it was valid already (no challenge needed). */
  reused: boolean;
}

/** Validation failed in a way another challenge type may avoid: a new order follows. */
export interface ChallengeSwitchProgress extends ObtainProgressBase {
  /** Discriminant. */
  type: "challenge_switch";
  /** The identifiers that failed, with the type that failed for each. */
  failures: Array<{ identifier: AcmeIdentifier; challengeType: string | undefined; problem: string | undefined }>;
  /** The order attempt that failed. */
  attempt: number;
}

/** The order was finalized and the CA issued the certificate (the order is `valid`). */
export interface FinalizedProgress extends ObtainProgressBase {
  /** Discriminant. */
  type: "finalized";
  /** The order URL. */
  orderUrl: string;
}

/** The certificate chain (and `chains − 1` alternates) were downloaded. */
export interface DownloadedProgress extends ObtainProgressBase {
  /** Discriminant. */
  type: "downloaded";
  /** The certificate URL. */
  certificateUrl: string;
  /** Chains downloaded (the default and its alternates). */
  chains: number;
}

/** The issuance finished; `durationMs` is the whole call. */
export interface DoneProgress extends ObtainProgressBase {
  /** Discriminant. */
  type: "done";
  /** The order URL. */
  orderUrl: string;
  /** The certificate URL. */
  certificateUrl: string;
}

/**
 * What `obtainCertificate` reports through `onProgress` (and its logger, as `obtain.<type>` lines),
 * in this order: `account`? → `order` → `authorizations` → `challenges_presented` →
 * `challenges_accepted` → `authorization_valid` (one per authorization) → [`challenge_switch` → `order`
 * …] → `finalized` → `downloaded` → `done`. Steps with nothing to do emit nothing (an order that is
 * already ready skips the challenge events). New event types may be added; switch on `type` with a
 * default branch.
 */
export type ObtainProgressEvent =
  | AccountProgress
  | OrderProgress
  | AuthorizationsProgress
  | ChallengesPresentedProgress
  | ChallengesAcceptedProgress
  | AuthorizationValidProgress
  | ChallengeSwitchProgress
  | FinalizedProgress
  | DownloadedProgress
  | DoneProgress;

/** An event as a step reports it; the reporter adds `elapsedMs`. */
export type ProgressReport = ObtainProgressEvent extends infer E ? (E extends ObtainProgressEvent ? Omit<E, "elapsedMs"> : never) : never;

const LOG: Record<ObtainProgressEvent["type"], { event: string; level: LogLevel }> = {
  account: { event: "obtain.account", level: "info" },
  order: { event: "obtain.order", level: "info" },
  authorizations: { event: "obtain.authorizations", level: "info" },
  challenges_presented: { event: "obtain.presented", level: "info" },
  challenges_accepted: { event: "obtain.accepted", level: "info" },
  authorization_valid: { event: "obtain.authorization_valid", level: "info" },
  challenge_switch: { event: "obtain.switch_challenge", level: "warn" },
  finalized: { event: "obtain.finalized", level: "info" },
  downloaded: { event: "obtain.downloaded", level: "info" },
  done: { event: "obtain.done", level: "info" },
};

/**
 * Sends each event to the logger and to the caller's callback. A callback that throws is logged and
 * otherwise ignored: progress reporting never changes the outcome of an issuance.
 */
export function progressReporter(
  logger: Logger,
  onProgress: ((event: ObtainProgressEvent) => void) | undefined,
  startedAt: number,
): (report: ProgressReport) => void {
  return (report) => {
    const event = { ...report, elapsedMs: Math.round(Date.now() - startedAt), durationMs: Math.round(report.durationMs) } as ObtainProgressEvent;
    const { type, ...fields } = event;
    const line = LOG[type];
    logger.log(line.level, line.event, fields);
    if (!onProgress) return;
    try {
      onProgress(event);
    } catch (err) {
      logger.log("warn", "obtain.progress_callback_failed", { type, error: String(err) });
    }
  };
}
