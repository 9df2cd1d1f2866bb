import { EdgecertError } from "../errors.ts";
import type { AcmeIdentifier, AcmeProblemDocument } from "./types.ts";

/** The URN prefix of ACME problem types (RFC 8555 §6.7). */
export const ACME_ERROR_PREFIX = "urn:ietf:params:acme:error:";

/** One subproblem: which identifier failed and why (RFC 8555 §6.7.1). */
export interface AcmeSubproblem {
  /** The subproblem's type URN. */
  type: string;
  /** Its human-readable detail. */
  detail?: string;
  /** The identifier it concerns. */
  identifier?: AcmeIdentifier;
}

/**
 * An ACME problem document returned by the CA (RFC 7807, RFC 8555 §6.7), or embedded in an order,
 * authorization or challenge. `type` is the full URN; `kind` the short name (`badNonce`, `rateLimited`…).
 */
export class AcmeProblem extends EdgecertError {
  /** The problem type URN, e.g. `urn:ietf:params:acme:error:rateLimited`. */
  readonly type: string;
  /** The CA's human-readable detail. */
  readonly detail: string;
  /**  undefined;|The HTTP status of the response. */
  readonly status: number | undefined;
  /**  undefined;|A URL about this occurrence (RFC 7807), e.g. terms to accept. */
  readonly instance: string | undefined;
  /** Per-identifier problems (RFC 8555 §6.7.1). */
  readonly subproblems: AcmeSubproblem[];
  /** The identifier this problem is about, when known. */
  readonly identifier: AcmeIdentifier | undefined;
  /** How long the CA asked us to wait (Retry-After), in milliseconds. */
  readonly retryAfterMs: number | undefined;
  /** The request URL that produced it. */
  readonly url: string | undefined;

  /**
   * A problem from a CA response.
   * @param doc The problem document.
   * @param context Status, URL, `Retry-After` and identifier of the response.
   */
  constructor(
    doc: AcmeProblemDocument,
    context: { status?: number; url?: string; retryAfterMs?: number; identifier?: AcmeIdentifier } = {},
  ) {
    const type = typeof doc.type === "string" && doc.type ? doc.type : "about:blank";
    const detail = typeof doc.detail === "string" ? doc.detail : (doc.title ?? "");
    const identifier = context.identifier ?? doc.identifier;
    const who = identifier ? ` [${identifier.type}:${identifier.value}]` : "";
    super("acme_problem", `${shortType(type)}${who}: ${detail || "(no detail)"}`);
    this.name = "AcmeProblem";
    this.type = type;
    this.detail = detail;
    this.status = context.status ?? (typeof doc.status === "number" ? doc.status : undefined);
    this.instance = doc.instance;
    this.identifier = identifier;
    this.retryAfterMs = context.retryAfterMs;
    this.url = context.url;
    this.subproblems = Array.isArray(doc.subproblems)
      ? doc.subproblems
          .filter((s): s is NonNullable<typeof s> => typeof s === "object" && s !== null)
          .map((s) => {
            const sub: AcmeSubproblem = { type: typeof s.type === "string" ? s.type : "about:blank" };
            if (typeof s.detail === "string") sub.detail = s.detail;
            if (s.identifier && typeof s.identifier.value === "string") sub.identifier = s.identifier;
            return sub;
          })
      : [];
  }

  /** The short problem name, e.g. `badNonce` for `urn:ietf:params:acme:error:badNonce`. */
  get kind(): string {
    return shortType(this.type);
  }

  /** True when this problem (or the given type name) matches, e.g. `problem.is("rateLimited")`. */
  is(kind: string): boolean {
    return this.kind === kind;
  }
}

function shortType(type: string): string {
  return type.startsWith(ACME_ERROR_PREFIX) ? type.slice(ACME_ERROR_PREFIX.length) : type;
}

/** True when `err` is the CA telling us to slow down (RFC 8555 §6.6); see `retryAfterMs` for how long. */
export function isRateLimited(err: unknown): boolean {
  // Errors that wrap a problem (IssuanceError) expose it as `problem`.
  const problem = err instanceof AcmeProblem ? err : (err as { problem?: unknown } | null)?.problem;
  return problem instanceof AcmeProblem && (problem.is("rateLimited") || problem.status === 429);
}
