import { silentLogger, type Logger } from "../logger.ts";
import { exportPrivateKeyPem, type KeyAlgorithmName } from "../webcrypto/keys.ts";
import { splitPemChain } from "../webcrypto/pem.ts";
import { parseCertificate } from "../webcrypto/x509.ts";
import type { AcmeClient, NewAccountOptions } from "./client.ts";
import type { OrderNotResumableError } from "./issuance-error.ts";
import { chooseChain, downloadChains, type IssuedChain, type PreferredChain } from "./issuance/chain.ts";
import { validateAuthorizations } from "./issuance/challenges.ts";
import { aboutToFinalize, guarded, runStep, type IssuanceContext, type NewOrderAbout } from "./issuance/context.ts";
import { finalizeOrder } from "./issuance/finalize.ts";
import { readIssuanceInput } from "./issuance/input.ts";
import { prepareMaterial, type CertificateMaterial } from "./issuance/material.ts";
import { createOrder, resumeOrder } from "./issuance/order.ts";
import { progressReporter, type ObtainProgressEvent } from "./issuance/progress.ts";
import { IssuanceError } from "./issuance-error.ts";
import { AcmeProblem } from "./problem.ts";
import type { PollOptions } from "./poll.ts";
import type { SendGuard } from "./send-guard.ts";
import type { Solver } from "./solver.ts";
import type { AcmeIdentifier, AcmeOrder } from "./types.ts";
import type { CryptoKeyPair } from "../webcrypto/web-types.ts";

export type { IssuedChain, PreferredChain } from "./issuance/chain.ts";
export type { NewOrderAbout } from "./issuance/context.ts";

/** Options for {@link obtainCertificate}. */
export interface ObtainCertificateOptions {
  /**
   * A client; if it has no account yet, one is created (with `account` and `termsOfServiceAgreed`).
   */
  client: AcmeClient;
  /**
   * Agreement to the CA's terms of service, needed when the client has no account yet and the CA has
   * terms (RFC 8555 §7.3, §7.1.1 `meta.termsOfService`): without it that call throws
   * `terms_not_agreed` naming the terms URL, before any account is created. Never assumed.
   */
  termsOfServiceAgreed?: boolean;
  /** DNS names (Unicode converted to A-labels; wildcards need dns-01) and IP addresses. */
  names?: ReadonlyArray<string | AcmeIdentifier>;
  /** A DER or PEM CSR to finalize with instead of generating a key; its SANs are the names. */
  csr?: Uint8Array | string;
  /** Solvers by challenge type, e.g. `{ "http-01": new Http01Solver() }`. */
  solvers: Readonly<Record<string, Solver | undefined>>;
  /** Challenge types in order of preference; types not listed rank after them, in random order. */
  preferredChallenges?: readonly string[];
  /** The certificate's key pair; a new one of `keyAlgorithm` (default ES256) when omitted. */
  certificateKey?: CryptoKeyPair;
  /** Type of the generated certificate key when `certificateKey` is omitted. Default ES256. */
  keyAlgorithm?: KeyAlgorithmName;
  /** Certificate profile (draft-ietf-acme-profiles). */
  profile?: string;
  /**  string;|Requested start of validity (RFC 8555 §7.4); most CAs ignore or refuse it. */
  notBefore?: Date | string;
  /**  string;|Requested end of validity (RFC 8555 §7.4); most CAs ignore or refuse it. */
  notAfter?: Date | string;
  /** ARI id of the certificate this one replaces (RFC 9773 §5); dropped if the CA says `alreadyReplaced`. */
  replaces?: string;
  /** Keep the chain whose issuer has this common name, or the smallest one. */
  preferredChain?: PreferredChain;
  /** Options for creating the account when the client has none (`termsOfServiceAgreed` here counts too). */
  account?: NewAccountOptions;
  /** Resume this order instead of creating one (used by the manager after a crash). */
  resumeOrderUrl?: string;
  /**
   * Called once the order exists and before finalize, so callers can record it (crash safety).
   * A resumed order that cannot go on throws {@link OrderNotResumableError} instead.
   */
  onOrder?: (order: AcmeOrder) => void | Promise<void>;
  /**
   * Awaited right before an order's first finalize request (not for an order resumed past it); when
   * a new order replaced one that failed after an early finalize, again for the new one. The manager
   * counts the CA's per-issuance limits from then: Let's Encrypt spends its Certificates per
   * Registered Domain and per Exact Set of Identifiers when it issues.
   */
  beforeFinalize?: () => Promise<void>;
  /**
   * Awaited right before every newOrder request (RFC 8555 §7.4) — the first, each new order after a
   * failed validation (see `maxAttempts`), and the order sent again without `replaces` after
   * `alreadyReplaced` — not for a resumed order. What it throws ends the issuance as thrown, with
   * nothing sent. The manager spends the CA budget here: the CA counts each newOrder.
   */
  beforeNewOrder?: (order: NewOrderAbout) => Promise<void>;
  /**
   * false: a rate-limit refusal of the new order is thrown at once instead of resent after its
   * `Retry-After` (see `NewOrderOptions.resendRateLimited`). The manager sets it when the CA has a
   * budget: the budget, not this call, decides when to order again.
   */
  resendRateLimited?: boolean;
  /**
   * Most requests / solver calls in flight at once (default 32). Near the CA, signed requests are
   * still paced by the nonce each response brings back (no request is spent on nonces); far from it
   * the client fetches up to `concurrency − 1` extra nonces per step so that many run in parallel.
   * See `AcmeClientOptions.parallelNonces`.
   */
  concurrency?: number;
  /** Most orders tried when switching challenge types after a failure (default 3). */
  maxAttempts?: number;
  /** Order polling limits. */
  poll?: PollOptions;
  /**
   * Aborts the issuance: every CA request, poll and solver call gets this signal, and the call rejects
   * with `EdgecertError` code `aborted` (challenges already presented are still cleaned up).
   */
  signal?: AbortSignal;
  /**
   * Asked synchronously right before every state-changing request of the issuance (account, order,
   * challenge accepts, authorization deactivations, finalize) is sent; when it throws, that request is
   * not sent and the issuance fails with its error. The manager passes its lock's lease check.
   */
  guard?: SendGuard;
  /** Structured logger (`obtain.<step>` lines among others); silent by default. */
  logger?: Logger;
  /**
   * Called as each step ends, with how long it took (see {@link ObtainProgressEvent} for the events and
   * their order). Also written to `logger` as `obtain.<step>` lines. Exceptions it throws are logged
   * and ignored.
   */
  onProgress?: (event: ObtainProgressEvent) => void;
}

/** What {@link obtainCertificate} returns. */
export interface ObtainedCertificate {
  /** The leaf certificate alone, PEM. */
  certificatePem: string;
  /** The chosen chain (leaf first), PEM — what a TLS server should serve. */
  chainPem: string;
  /** Every chain offered, the default first. */
  alternates: IssuedChain[];
  /** The certificate key as PKCS#8 PEM, unless a CSR was given or the key is not extractable. */
  privateKeyPem?: string;
  /** The certificate key pair, unless a CSR was given. */
  certificateKey?: CryptoKeyPair;
  /** The order's URL. */
  orderUrl: string;
  /** The certificate's URL at the CA. */
  certificateUrl: string;
  /** The identifiers it covers, normalised. */
  identifiers: AcmeIdentifier[];
  /** Start of validity of the leaf. */
  notBefore: Date;
  /** End of validity of the leaf. */
  notAfter: Date;
  /** The leaf's serial number, hex. */
  serialNumber: string;
}

/**
 * Obtains a certificate in one call (RFC 8555 §7.1 order flow), as named steps: account (when the
 * client has none) → order (created, or resumed) → authorizations and challenges (each challenge
 * presented and accepted as soon as its authorization is read; then the order is polled — not each
 * authorization) → finalize → chain. Reuses valid authorizations, infers state from responses instead
 * of asking again, switches challenge type for an identifier when validation fails in a way another
 * type could avoid, and always cleans up. The certificate key and CSR are built while the CA works;
 * far from the CA the finalize is sent in place of the first poll.
 */
export async function obtainCertificate(options: ObtainCertificateOptions): Promise<ObtainedCertificate> {
  const startedAt = Date.now();
  const { client } = options;
  const logger = options.logger ?? silentLogger;
  const ctx: IssuanceContext = {
    client,
    signal: options.signal ?? new AbortController().signal,
    guard: options.guard,
    logger,
    concurrency: Math.max(1, options.concurrency ?? 32),
    poll: options.poll,
    progress: progressReporter(logger, options.onProgress, startedAt),
    beforeFinalize: options.beforeFinalize,
    beforeNewOrder: options.beforeNewOrder,
    finalizing: new Set(),
    resendRateLimited: options.resendRateLimited ?? true,
  };
  const input = readIssuanceInput(options);
  const { identifiers } = input;
  logger.log("info", "obtain.start", { names: identifiers.map((i) => i.value) });
  const material = prepareMaterial(identifiers, { csrDer: input.csrDer, certificateKey: options.certificateKey, keyAlgorithm: options.keyAlgorithm });
  // Meanwhile: the directory, the first nonce and — far from the CA — the nonces the parallel steps
  // will need, sent alongside the account or order request (which keeps the open connection).
  const reserved = client.reserveNonces(Math.min(ctx.concurrency, identifiers.length), { signal: ctx.signal, alongsideNextRequest: true }).catch(() => 0);

  if (!client.accountUrl) await ensureAccount(ctx, options.account, options.termsOfServiceAgreed);
  const order = await orderAndValidate(ctx, options, input, material);
  await reserved;

  const { csr, key: certificateKey } = await material;
  const finalized = await finalizeOrder(ctx, order, csr);
  const chains = await downloadChains(ctx, finalized.certificate);
  const result = resultFrom(chains, options.preferredChain, finalized, identifiers);
  if (certificateKey) {
    result.certificateKey = certificateKey;
    try {
      result.privateKeyPem = await exportPrivateKeyPem(certificateKey.privateKey);
    } catch {
      // Non-extractable keys stay inside WebCrypto; the caller holds the CryptoKey.
    }
  }
  ctx.progress({ type: "done", orderUrl: finalized.url, certificateUrl: finalized.certificate, durationMs: Date.now() - startedAt });
  return result;
}

/** The account step: creates (or finds) the account; agrees to the terms only if the caller did. */
async function ensureAccount(ctx: IssuanceContext, account: NewAccountOptions | undefined, agreed: boolean | undefined): Promise<void> {
  const started = Date.now();
  const termsOfServiceAgreed = agreed ?? account?.termsOfServiceAgreed;
  const created = await runStep(ctx, "account", () =>
    ctx.client.newAccount({ ...account, ...(termsOfServiceAgreed !== undefined ? { termsOfServiceAgreed } : {}), signal: ctx.signal, ...guarded(ctx) }));
  ctx.progress({ type: "account", accountUrl: created.url, durationMs: Date.now() - started });
}

/**
 * The order and challenge steps, repeated with a new order (up to `maxAttempts`) when validation
 * failed in a way another challenge type may avoid. Returns an order that is ready (or further).
 */
async function orderAndValidate(
  ctx: IssuanceContext,
  options: ObtainCertificateOptions,
  input: ReturnType<typeof readIssuanceInput>,
  material: Promise<CertificateMaterial>,
): Promise<AcmeOrder> {
  const maxAttempts = options.maxAttempts ?? 3;
  const avoid = new Map<string, Set<string>>();
  let resumeUrl = options.resumeOrderUrl;
  for (let attempt = 1; ; attempt++) {
    const started = Date.now();
    const resumed = resumeUrl !== undefined;
    const order = await runStep(ctx, "new-order", () =>
      resumeUrl !== undefined
        ? resumeOrder(ctx, resumeUrl, input.identifiers)
        : createOrder(ctx, {
            identifiers: input.identifiers,
            profile: options.profile,
            notBefore: options.notBefore,
            notAfter: options.notAfter,
            replaces: options.replaces,
            attempt,
          }),
    );
    resumeUrl = undefined;
    ctx.progress({ type: "order", orderUrl: order.url, status: order.status, resumed, attempt, durationMs: Date.now() - started });
    if (options.onOrder) await options.onOrder(order);
    if (order.status === "ready" || order.status === "valid" || order.status === "processing") return order;
    if (order.status === "invalid") {
      const problem = order.error ? new AcmeProblem(order.error, { url: order.url }) : undefined;
      throw new IssuanceError("new-order", `the new order is invalid${problem ? `: ${problem.message}` : ""}`, problem ? { problem } : {});
    }
    const outcome = await validateAuthorizations(
      ctx,
      order,
      { solvers: options.solvers, solverTypes: input.solverTypes, preferred: options.preferredChallenges ?? [], avoid },
      { mayRetry: attempt < maxAttempts, solverTypes: input.solverTypes, avoid, attempt },
      () => finalizeEarly(ctx, order, material),
    );
    if (outcome !== "retry") return outcome;
  }
}

/**
 * Finalize sent in place of the first poll after the challenges were accepted (far from the CA only;
 * see `settle`): the order it returns, or undefined when the CA said the order is not ready yet
 * (RFC 8555 §7.4 `orderNotReady`) or the CSR is not to be had (its error is reported at finalize).
 */
async function finalizeEarly(ctx: IssuanceContext, order: AcmeOrder, material: Promise<CertificateMaterial>): Promise<AcmeOrder | undefined> {
  const csr = await material.then((m) => m.csr, () => undefined);
  if (!csr) return undefined;
  try {
    await aboutToFinalize(ctx, order.url);
    const finalized = await ctx.client.finalizeOrder(order, csr, { signal: ctx.signal, ...guarded(ctx) });
    // A transport failure re-reads the order; still pending means validation goes on.
    return finalized.status === "pending" ? undefined : finalized;
  } catch (err) {
    if (err instanceof AcmeProblem && err.is("orderNotReady")) return undefined;
    throw err;
  }
}

/** The result, with the chosen chain; the leaf is parsed only if its details are read. */
function resultFrom(
  chains: IssuedChain[],
  preferred: PreferredChain | undefined,
  finalized: AcmeOrder & { certificate: string },
  identifiers: AcmeIdentifier[],
): ObtainedCertificate {
  const chosen = chooseChain(chains, preferred);
  const leafPem = splitPemChain(chosen.chainPem)[0]!;
  let leaf: ReturnType<typeof parseCertificate> | undefined;
  const parsedLeaf = () => (leaf ??= parseCertificate(leafPem));
  return {
    certificatePem: leafPem,
    chainPem: chosen.chainPem,
    alternates: chains,
    orderUrl: finalized.url,
    certificateUrl: finalized.certificate,
    identifiers,
    get notBefore() {
      return parsedLeaf().notBefore;
    },
    get notAfter() {
      return parsedLeaf().notAfter;
    },
    get serialNumber() {
      return parsedLeaf().serialNumber;
    },
  };
}
