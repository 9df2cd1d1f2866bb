import type { Logger } from "../logger.ts";
import type { AcmeAuthorization, AcmeChallenge, AcmeIdentifier } from "./types.ts";

/** Challenge types edgecert solves (RFC 8555 §8.3, §8.4; RFC 8737). */
export type ChallengeType = "http-01" | "dns-01" | "tls-alpn-01";

/** What a solver is told about the challenge it must satisfy. */
export interface ChallengeContext {
  /** The identifier being validated (for wildcards, the name without `*.`; see `wildcard`). */
  identifier: AcmeIdentifier;
  /** True when the order asked for `*.identifier` (RFC 8555 §7.1.4). */
  wildcard: boolean;
  /** The authorization the challenge belongs to. */
  authorization: AcmeAuthorization;
  /** `token.thumbprint` (RFC 8555 §8.1). */
  keyAuthorization: string;
  /** Fires when the caller aborts; `cleanup` gets a signal of its own that only times out. */
  signal: AbortSignal;
  /** The issuance's logger. */
  logger: Logger;
}

/**
 * Makes one kind of challenge verifiable, then undoes it. `cleanup` is always called for every challenge
 * whose `present` was called — also when `present` threw or the operation was aborted.
 */
export interface Solver {
  /** Publish the response (serve the token, create the TXT record, load the certificate). */
  present(challenge: AcmeChallenge, ctx: ChallengeContext): Promise<void>;
  /** Optionally wait until the CA will be able to see it (e.g. DNS propagation). */
  wait?(challenge: AcmeChallenge, ctx: ChallengeContext): Promise<void>;
  /** Remove what `present` published. */
  cleanup(challenge: AcmeChallenge, ctx: ChallengeContext): Promise<void>;
}
