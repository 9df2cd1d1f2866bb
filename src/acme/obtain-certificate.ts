import { EdgecertError } from "../errors.ts";
import { silentLogger, type Logger } from "../logger.ts";
import { createCsr, readCsrNames } from "../webcrypto/csr.ts";
import { exportPrivateKeyPem, generateKeyPair, type KeyAlgorithmName } from "../webcrypto/keys.ts";
import { pemDecode, splitPemChain } from "../webcrypto/pem.ts";
import { parseCertificate } from "../webcrypto/x509.ts";
import type { AcmeClient, NewAccountOptions } from "./client.ts";
import { mapConcurrent } from "./concurrency.ts";
import { sameIdentifiers, toIdentifiers } from "./identifiers.ts";
import { IssuanceError, type IssuanceStep, type ValidationFailure } from "./issuance-error.ts";
import type { PollOptions } from "./poll.ts";
import { AcmeProblem } from "./problem.ts";
import { abortError } from "./retry.ts";
import type { ChallengeContext, Solver } from "./solver.ts";
import type { AcmeAuthorization, AcmeChallenge, AcmeIdentifier, AcmeOrder, CertificateChain } from "./types.ts";

/** Which of several offered chains to keep (RFC 8555 §7.4.2 alternates). */
export type PreferredChain = string | { issuerCommonName?: string; smallest?: boolean };

/** Options for {@link obtainCertificate}. */
export interface ObtainCertificateOptions {
  /** A client; if it has no account yet, one is created with `account` (default: agree to the ToS). */
  client: AcmeClient;
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
  keyAlgorithm?: KeyAlgorithmName;
  /** Certificate profile (draft-ietf-acme-profiles). */
  profile?: string;
  notBefore?: Date | string;
  notAfter?: Date | string;
  /** ARI id of the certificate this one replaces (RFC 9773 §5); dropped if the CA says `alreadyReplaced`. */
  replaces?: string;
  /** Keep the chain whose issuer has this common name, or the smallest one. */
  preferredChain?: PreferredChain;
  /** Options for creating the account when the client has none. */
  account?: NewAccountOptions;
  /** Resume this order instead of creating one (used by the manager after a crash). */
  resumeOrderUrl?: string;
  /** Called once the order exists and before finalize, so callers can record it (crash safety). */
  onOrder?: (order: AcmeOrder) => void | Promise<void>;
  /** Most concurrent requests / solver calls (default 8). Nonces still pace signed requests. */
  concurrency?: number;
  /** Most orders tried when switching challenge types after a failure (default 3). */
  maxAttempts?: number;
  /** Order polling limits. */
  poll?: PollOptions;
  signal?: AbortSignal;
  logger?: Logger;
}

/** One chain the CA offered. */
export interface IssuedChain {
  /** The full chain, leaf first, as PEM. */
  chainPem: string;
  /** Common name of the topmost certificate's issuer (the root the chain leads to). */
  issuerCommonName: string | undefined;
  url: string;
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
  orderUrl: string;
  certificateUrl: string;
  identifiers: AcmeIdentifier[];
  notBefore: Date;
  notAfter: Date;
  serialNumber: string;
}

/** Problem types a different challenge type might avoid (RFC 8555 §6.7). */
const SWITCHABLE = new Set(["connection", "dns", "tls", "unauthorized", "incorrectResponse", "caa"]);

interface Task {
  authz: AcmeAuthorization;
  /** The identifier as ordered: `*.name` for a wildcard authorization. */
  ordered: AcmeIdentifier;
  challenge: AcmeChallenge;
  solver: Solver;
  ctx: ChallengeContext;
  /** Known valid from a response, so the order need not be asked. */
  valid: boolean;
  /** The CA already said it failed. */
  failed?: AcmeProblem;
}

const key = (id: AcmeIdentifier) => `${id.type}:${id.value}`;

/**
 * Obtains a certificate in one call (RFC 8555 §7.1 order flow): order, present every challenge, wait,
 * accept them all, poll the order (not each authorization), finalize, download. Reuses valid
 * authorizations, infers state from responses instead of asking again, switches challenge type for an
 * identifier when validation fails in a way another type could avoid, and always cleans up.
 */
export async function obtainCertificate(options: ObtainCertificateOptions): Promise<ObtainedCertificate> {
  const { client } = options;
  const logger = options.logger ?? silentLogger;
  const signal = options.signal ?? new AbortController().signal;
  const concurrency = options.concurrency ?? 8;
  const maxAttempts = options.maxAttempts ?? 3;

  // ---- validate everything before the first request
  let csrDer: Uint8Array | undefined;
  let identifiers: AcmeIdentifier[];
  try {
    if (options.csr !== undefined) {
      csrDer = typeof options.csr === "string" ? pemDecode(options.csr, "CERTIFICATE REQUEST", "NEW CERTIFICATE REQUEST").der : options.csr;
      const fromCsr = readCsrNames(csrDer);
      identifiers = toIdentifiers([...fromCsr.dnsNames, ...fromCsr.ipAddresses]);
    } else {
      identifiers = toIdentifiers(options.names ?? []);
    }
  } catch (cause) {
    throw new IssuanceError("validate-input", (cause as Error).message, { cause });
  }
  const solverTypes = Object.keys(options.solvers).filter((t) => options.solvers[t]);
  for (const id of identifiers) {
    if (allowedTypes(id, solverTypes).length === 0) {
      const need = id.value.startsWith("*.") ? "a dns-01 solver (wildcards)" : id.type === "ip" ? "an http-01 or tls-alpn-01 solver (IP addresses)" : "a solver";
      throw new IssuanceError("validate-input", `${id.value} needs ${need}`, { code: "invalid_input", identifier: id });
    }
  }
  logger.log("info", "obtain.start", { names: identifiers.map((i) => i.value) });

  // The key and CSR are cheap with ES256 but independent of the network: build them meanwhile.
  const material = csrDer
    ? Promise.resolve({ csr: csrDer, key: undefined })
    : (async () => {
        const k = options.certificateKey ?? (await generateKeyPair(options.keyAlgorithm ?? "ES256"));
        const csr = await createCsr({
          key: k,
          names: identifiers.filter((i) => i.type === "dns").map((i) => i.value),
          ipAddresses: identifiers.filter((i) => i.type === "ip").map((i) => i.value),
        });
        return { csr, key: k };
      })();
  material.catch(() => {});

  const step = async <T>(name: IssuanceStep, fn: () => Promise<T>, identifier?: AcmeIdentifier): Promise<T> => {
    try {
      return await fn();
    } catch (cause) {
      // Whatever a solver threw after an abort, the caller asked for it: report the abort.
      if (signal.aborted) throw abortError(signal);
      if (cause instanceof IssuanceError || (cause instanceof EdgecertError && cause.code === "aborted")) throw cause;
      const details: ConstructorParameters<typeof IssuanceError>[2] = { cause };
      if (identifier) details.identifier = identifier;
      throw new IssuanceError(name, (cause as Error)?.message ?? String(cause), details);
    }
  };

  if (!client.accountUrl) {
    await step("account", () => client.newAccount({ termsOfServiceAgreed: true, ...options.account, signal }));
  }

  // ---- order and authorizations, switching challenge types when that can help
  const avoid = new Map<string, Set<string>>();
  let order: AcmeOrder | undefined;
  let resumeUrl = options.resumeOrderUrl;
  for (let attempt = 1; ; attempt++) {
    order = await step("new-order", async () => {
      if (resumeUrl) {
        const resumed = await client.getOrder(resumeUrl, { signal });
        resumeUrl = undefined;
        if (resumed.status !== "invalid" && sameIdentifiers(resumed.identifiers, identifiers)) return resumed;
      }
      return createOrder(client, identifiers, options, signal, logger);
    });
    if (options.onOrder) await options.onOrder(order);
    const outcome = await authorize(order, attempt < maxAttempts);
    if (outcome === "retry") continue;
    order = outcome;
    break;
  }

  // ---- finalize and download
  const { csr, key: certificateKey } = await material;
  const finalized = await step("finalize", async () => {
    let current = order!;
    const started = Date.now();
    if (current.status === "ready") {
      try {
        current = await client.finalizeOrder(current, csr, { signal });
      } catch (err) {
        // We inferred "ready" from challenge responses; the CA may not have caught up yet.
        if (!(err instanceof AcmeProblem && err.is("orderNotReady"))) throw err;
        current = await client.waitOrder(current.url, { ...options.poll, signal });
        if (current.status === "ready") current = await client.finalizeOrder(current, csr, { signal });
      }
    }
    if (current.status === "processing" || current.status === "ready") {
      current = await client.waitOrder(current.url, {
        delayFirst: true,
        initialDelayMs: firstPollDelay(Date.now() - started),
        ...options.poll,
        signal,
      });
    }
    if (current.status !== "valid" || !current.certificate) {
      const problem = current.error ? new AcmeProblem(current.error, { url: current.url }) : undefined;
      throw new IssuanceError("finalize", `order ended ${current.status}${problem ? `: ${problem.message}` : ""}`, {
        code: problem ? "acme_problem" : "bad_response",
        ...(problem ? { problem } : {}),
      });
    }
    return current;
  });

  const chain = await step("download", () =>
    client.downloadCertificate(finalized.certificate!, { alternates: true, signal }),
  );
  const chains = [chain, ...(chain.alternates ?? [])].map(describeChain);
  const chosen = chooseChain(chains, options.preferredChain);
  const leafPem = splitPemChain(chosen.chainPem)[0]!;
  let leaf: ReturnType<typeof parseCertificate> | undefined;
  // The leaf is parsed only if its details are read (callers that store it parse it anyway).
  const parsedLeaf = () => (leaf ??= parseCertificate(leafPem));
  const result: ObtainedCertificate = {
    certificatePem: leafPem,
    chainPem: chosen.chainPem,
    alternates: chains,
    orderUrl: finalized.url,
    certificateUrl: finalized.certificate!,
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
  if (certificateKey) {
    result.certificateKey = certificateKey;
    try {
      result.privateKeyPem = await exportPrivateKeyPem(certificateKey.privateKey);
    } catch {
      // Non-extractable keys stay inside WebCrypto; the caller holds the CryptoKey.
    }
  }
  logger.log("info", "obtain.done", { order: finalized.url, certificate: finalized.certificate });
  return result;

  /** Validates every pending authorization of `current`; "retry" when a new order could do better. */
  async function authorize(current: AcmeOrder, mayRetry: boolean): Promise<AcmeOrder | "retry"> {
    if (current.status === "ready" || current.status === "valid" || current.status === "processing") return current;
    if (current.status === "invalid") {
      const problem = current.error ? new AcmeProblem(current.error, { url: current.url }) : undefined;
      throw new IssuanceError("new-order", `the new order is invalid${problem ? `: ${problem.message}` : ""}`, problem ? { problem } : {});
    }
    const authzs = await step("authorizations", () =>
      mapConcurrent(current.authorizations, concurrency, (url) => client.getAuthorization(url, { signal })),
    );
    const tasks: Task[] = [];
    for (const authz of authzs) {
      if (authz.status === "valid") continue;
      const identifier = authz.identifier;
      const ordered = authz.wildcard ? { ...identifier, value: `*.${identifier.value}` } : identifier;
      if (authz.status !== "pending") {
        throw new IssuanceError("authorizations", `authorization for ${identifier.value} is ${authz.status}`, { identifier });
      }
      const type = chooseType(authz, ordered, solverTypes, options.preferredChallenges ?? [], avoid.get(key(ordered)));
      const challenge = type ? authz.challenges.find((c) => c.type === type) : undefined;
      if (!challenge) {
        const offered = authz.challenges.map((c) => c.type).join(", ");
        throw new IssuanceError("authorizations", `no usable solver for ${identifier.value} (offered: ${offered})`, {
          code: "challenge_failed",
          identifier,
        });
      }
      const ctx: ChallengeContext = {
        identifier,
        wildcard: authz.wildcard === true,
        authorization: authz,
        keyAuthorization: await client.keyAuthorization(challenge.token),
        signal,
        logger,
      };
      tasks.push({ authz, ordered, challenge, solver: options.solvers[challenge.type]!, ctx, valid: challenge.status === "valid" });
    }
    if (tasks.length === 0) return { ...current, status: "ready" };

    const presented: Task[] = [];
    try {
      await mapConcurrent(tasks, concurrency, (t) => {
        presented.push(t);
        return step("present", () => t.solver.present(t.challenge, t.ctx), t.ctx.identifier);
      });
      await mapConcurrent(tasks, tasks.length, (t) =>
        t.solver.wait ? step("wait", () => t.solver.wait!(t.challenge, t.ctx), t.ctx.identifier) : Promise.resolve(),
      );
      let slowestAccept = 0;
      await mapConcurrent(tasks, concurrency, async (t) => {
        if (t.valid) return;
        const started = Date.now();
        const answered = await step("accept", () => client.acceptChallenge(t.challenge.url, { signal }), t.ctx.identifier);
        slowestAccept = Math.max(slowestAccept, Date.now() - started);
        if (answered.status === "valid") t.valid = true;
        else if (answered.status === "invalid") t.failed = problemOf(answered, t.ctx.identifier);
      });
      logger.log("debug", "obtain.accepted", { order: current.url, challenges: tasks.length, knownValid: tasks.filter((t) => t.valid).length });

      if (tasks.every((t) => t.valid)) return { ...current, status: "ready" };
      const settled = tasks.some((t) => t.failed)
        ? await step("validation", () => client.getOrder(current.url, { signal }))
        : await step("validation", () =>
            client.waitOrder(current.url, { delayFirst: true, initialDelayMs: firstPollDelay(slowestAccept), ...options.poll, signal }),
          );
      if (settled.status === "ready" || settled.status === "valid" || settled.status === "processing") return settled;

      const failures = await diagnose(tasks, settled);
      const switchable =
        mayRetry &&
        failures.length > 0 &&
        failures.every((f) => {
          if (!f.problem || !SWITCHABLE.has(f.problem.kind)) return false;
          const avoided = avoid.get(key(f.identifier)) ?? new Set<string>();
          avoided.add(f.challengeType!);
          avoid.set(key(f.identifier), avoided);
          return allowedTypes(f.identifier, solverTypes).some((t) => !avoided.has(t));
        });
      if (switchable) {
        logger.log("warn", "obtain.switch_challenge", {
          failures: failures.map((f) => ({ identifier: f.identifier.value, type: f.challengeType, problem: f.problem?.kind })),
        });
        await deactivatePending(tasks);
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
      await cleanupAll(presented);
    }
  }

  /** Reads the failed authorizations (only now: a successful order never needs them). */
  async function diagnose(tasks: Task[], settled: AcmeOrder): Promise<ValidationFailure[]> {
    const failures: ValidationFailure[] = [];
    const unknown = tasks.filter((t) => !t.valid && !t.failed);
    const fetched = await mapConcurrent(unknown, concurrency, (t) =>
      client.getAuthorization(t.authz.url, { signal }).catch(() => undefined),
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

  async function deactivatePending(tasks: Task[]): Promise<void> {
    // RFC 8555 §7.5.2: abandon what is still pending so it does not linger on the account.
    await mapConcurrent(tasks.filter((t) => !t.valid && !t.failed), concurrency, (t) =>
      client.deactivateAuthorization(t.authz.url, { signal }).catch(() => undefined),
    );
  }

  async function cleanupAll(presented: Task[]): Promise<void> {
    // Cleanup runs even after an abort, under a signal of its own.
    const cleanupSignal = AbortSignal.timeout(30_000);
    await Promise.all(
      presented.map(async (t) => {
        try {
          await t.solver.cleanup(t.challenge, { ...t.ctx, signal: cleanupSignal });
        } catch (err) {
          logger.log("warn", "obtain.cleanup_failed", { identifier: t.ctx.identifier.value, error: String(err) });
        }
      }),
    );
  }
}

async function createOrder(
  client: AcmeClient,
  identifiers: AcmeIdentifier[],
  options: ObtainCertificateOptions,
  signal: AbortSignal,
  logger: Logger,
): Promise<AcmeOrder> {
  const request = {
    identifiers,
    signal,
    ...(options.profile !== undefined ? { profile: options.profile } : {}),
    ...(options.notBefore !== undefined ? { notBefore: options.notBefore } : {}),
    ...(options.notAfter !== undefined ? { notAfter: options.notAfter } : {}),
  };
  if (options.replaces === undefined) return client.newOrder(request);
  try {
    return await client.newOrder({ ...request, replaces: options.replaces });
  } catch (err) {
    // RFC 9773 §5: the replaced certificate already has a successor; order without `replaces`.
    if (!(err instanceof AcmeProblem && err.is("alreadyReplaced"))) throw err;
    logger.log("warn", "obtain.already_replaced", { replaces: options.replaces });
    return client.newOrder(request);
  }
}

/**
 * How long to wait before the first poll after accepting challenges or finalizing. The CA works for
 * about as long as a few of its round trips (a validation is several fetches), and a loaded CA or
 * client shows longer round trips, so the first poll scales with the slowest one seen: early enough
 * to notice a fast CA in tens of milliseconds, late enough that it usually finds the order settled.
 */
function firstPollDelay(slowestRoundTripMs: number): number {
  return Math.min(1_000, Math.max(25, 4 * slowestRoundTripMs));
}

/** Challenge types usable for an identifier given the solvers we have. */
function allowedTypes(id: AcmeIdentifier, solverTypes: string[]): string[] {
  // Wildcards can only be validated through DNS (RFC 8555 §7.1.3, §8.4); IP identifiers never through
  // DNS (RFC 8738 §7).
  if (id.value.startsWith("*.")) return solverTypes.filter((t) => t === "dns-01");
  if (id.type === "ip") return solverTypes.filter((t) => t !== "dns-01");
  return solverTypes;
}

function chooseType(
  authz: AcmeAuthorization,
  id: AcmeIdentifier,
  solverTypes: string[],
  preferred: readonly string[],
  avoided?: Set<string>,
): string | undefined {
  const usable = allowedTypes(id, solverTypes).filter(
    (t) => !avoided?.has(t) && authz.challenges.some((c) => c.type === t),
  );
  const rank = (t: string) => {
    const i = preferred.indexOf(t);
    return i === -1 ? preferred.length : i;
  };
  // Random tie-breaking spreads load and avoids getting stuck on one broken type.
  return usable.map((t) => ({ t, r: rank(t), x: Math.random() })).sort((a, b) => a.r - b.r || a.x - b.x)[0]?.t;
}

function problemOf(challenge: AcmeChallenge, identifier: AcmeIdentifier): AcmeProblem {
  return new AcmeProblem(challenge.error ?? { detail: `challenge ${challenge.type} is ${challenge.status}` }, { identifier, url: challenge.url });
}


function describeChain(chain: CertificateChain): IssuedChain {
  let issuer: { cn: string | undefined } | undefined;
  return {
    chainPem: chain.pem,
    url: chain.url,
    // Parsed on first read: a single offered chain never needs it.
    get issuerCommonName() {
      if (!issuer) {
        const certs = splitPemChain(chain.pem);
        issuer = { cn: parseCertificate(certs[certs.length - 1]!).issuerCommonName };
      }
      return issuer.cn;
    },
  };
}

function chooseChain(chains: IssuedChain[], preferred: PreferredChain | undefined): IssuedChain {
  if (preferred === undefined) return chains[0]!;
  const wanted = typeof preferred === "string" ? { issuerCommonName: preferred } : preferred;
  if (wanted.issuerCommonName !== undefined) {
    const match = chains.find((c) =>
      splitPemChain(c.chainPem).some((pem) => parseCertificate(pem).issuerCommonName === wanted.issuerCommonName),
    );
    if (match) return match;
  }
  if (wanted.smallest) return chains.reduce((a, b) => (b.chainPem.length < a.chainPem.length ? b : a));
  return chains[0]!;
}
