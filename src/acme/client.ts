import { timeoutSignal } from "../abort.ts";
import { EdgecertError } from "../errors.ts";
import { silentLogger, type Logger } from "../logger.ts";
import { base64urlEncode } from "../webcrypto/base64url.ts";
import { exportPublicJwk, jwkThumbprint, type PublicJwk } from "../webcrypto/jwk.ts";
import {
  createExternalAccountBinding,
  createKeyChangeJws,
  signJws,
  type ExternalAccountBinding,
} from "../webcrypto/jws.ts";
import { toBytes } from "../webcrypto/bytes.ts";
import { pemDecode } from "../webcrypto/pem.ts";
import { parseCertificate, type CertificateInfo } from "../webcrypto/x509.ts";
import { checkAccountKey, checkContacts, checkTermsAgreed } from "./account-checks.ts";
import { keyAuthorization } from "./challenge-helpers.ts";
import { directoryFailure, missingDirectoryResources, notAcmeDirectory } from "./directory-errors.ts";
import { parseJsonObject, parseLinks, readBodyText } from "./http-response.ts";
import { sameIdentifiers, toIdentifiers } from "./identifiers.ts";
import { connectionTurn } from "./connection-turn.ts";
import { LatencyMeter } from "./latency.ts";
import { NoncePool } from "./nonce-pool.ts";
import { poll, type PollOptions } from "./poll.ts";
import { AcmeProblem } from "./problem.ts";
import { ariCertificateId, clampAriRetryAfter } from "./renewal-info.ts";
import { opaqueFetchFailure, tlsUntrustedError } from "./transport-errors.ts";
import { asAccount, asAuthorization, asDirectory, asOrder } from "./resources.ts";
import {
  abortError,
  backoffDelay,
  DEFAULT_RETRY_POLICY,
  parseRetryAfter,
  sleep,
  statusRetryClass,
  throwIfAborted,
  type RetryPolicy,
} from "./retry.ts";
import { checkSendGuard, SendRefusedError, type SendGuard } from "./send-guard.ts";
import type {
  AcmeAccount,
  AcmeAuthorization,
  AcmeChallenge,
  AcmeDirectory,
  AcmeIdentifier,
  AcmeOrder,
  CertificateChain,
  RenewalInfo,
  RevocationReasonCode,
} from "./types.ts";
import type { CryptoKeyPair } from "../webcrypto/web-types.ts";

/** Options for {@link AcmeClient}. */
export interface AcmeClientOptions {
  /** The CA's directory URL (RFC 8555 §7.1.1). */
  directoryUrl: string;
  /** The account key pair. ES256 is the cheapest choice. */
  accountKey: CryptoKeyPair;
  /** The account URL, when already known (skips a lookup). */
  accountUrl?: string;
  /** A `fetch` to use instead of the global one (e.g. one that trusts a private CA). */
  fetch?: typeof fetch;
  /** Sent as `User-Agent` on every request (RFC 8555 §6.1). */
  userAgent?: string;
  /** Retry behaviour; unspecified fields keep their defaults. */
  retry?: Partial<RetryPolicy>;
  /** Structured logger; silent by default. */
  logger?: Logger;
  /**
   * Whether {@link AcmeClient.reserveNonces} may fetch extra nonces so several signed requests can be
   * in flight at once. `"auto"` (default): only when the CA is far — its measured round trip is at
   * least `farRoundTripMs` — because there each extra newNonce request, sent alongside other requests,
   * saves a round trip per request it lets run in parallel; near the CA requests are cheap, so they
   * stay paced by the one nonce each response brings back and no request is spent on nonces (an
   * issuance stays at 2N + 8 requests). `"always"` / `"never"` force either behaviour.
   */
  parallelNonces?: "auto" | "always" | "never";
  /** The round trip (ms) from which `parallelNonces: "auto"` treats the CA as far. Default 25. */
  farRoundTripMs?: number;
  /**
   * Origins (e.g. `https://acme-certs.example.net`) besides the directory's own that URLs the CA hands
   * out (`Location`, `Link` alternates and pages, resource URLs) may point to. By default only the
   * directory's origin is followed, so a CA response cannot send the client's signed requests, or its
   * polling, anywhere else.
   */
  allowedOrigins?: string[];
}

/** Options every method takes. */
export interface RequestOptions {
  /** Aborts the request (and its retries); the call rejects with code `aborted`. */
  signal?: AbortSignal;
  /**
   * Asked synchronously right before each state-changing request this call sends (and each resend);
   * when it throws, nothing is sent and the call rejects with `SendRefusedError`. The manager passes
   * one that checks its lock's lease (see {@link SendGuard}). Read-only requests do not ask it.
   */
  guard?: SendGuard;
}

/** Options for {@link AcmeClient.newAccount}. */
export interface NewAccountOptions extends RequestOptions {
  /** Contact URLs, each `mailto:` with one address, e.g. `mailto:ops@example.com` (checked locally: `invalid_contact`). */
  contact?: string[];
  /**
   * Set to true once the user has read and agreed to the CA's terms of service (RFC 8555 §7.3; the URL
   * is the directory's `meta.termsOfService`). Without it, creating an account at a CA that has terms
   * throws `terms_not_agreed` naming them.
   */
  termsOfServiceAgreed?: boolean;
  /** External Account Binding credentials, when the CA requires them (RFC 8555 §7.3.4). */
  externalAccountBinding?: ExternalAccountBinding;
  /** Only look up an existing account for this key; never create one (RFC 8555 §7.3.1). */
  onlyReturnExisting?: boolean;
}

/** Options for {@link AcmeClient.newOrder}. */
export interface NewOrderOptions extends RequestOptions {
  /** DNS names / IP addresses (strings are classified and normalised) or ready identifiers. */
  identifiers: ReadonlyArray<string | AcmeIdentifier>;
  /**  string;|Requested start of validity (RFC 8555 §7.4); most CAs ignore or refuse it. */
  notBefore?: Date | string;
  /**  string;|Requested end of validity (RFC 8555 §7.4); most CAs ignore or refuse it. */
  notAfter?: Date | string;
  /** Certificate profile name (draft-ietf-acme-profiles). */
  profile?: string;
  /** ARI certificate id of the certificate this order replaces (RFC 9773 §5). */
  replaces?: string;
  /**
   * Whether a rate-limit refusal (429, RFC 8555 §6.6) is resent within this call once its `Retry-After`
   * has passed (within `RetryPolicy.maxRetryAfterMs` and `maxAttempts`). Default true. false: the
   * refusal is thrown at once — for a caller whose own budget decides when to order again (the
   * manager with CA limits), where a resend inside the call would take a token the budget gave to
   * another order, which the CA then refuses in turn.
   */
  resendRateLimited?: boolean;
}

/** Options for {@link AcmeClient.revokeCertificate}. */
export interface RevokeOptions extends RequestOptions {
  /** CRL reason code (RFC 5280 §5.3.1). */
  reason?: RevocationReasonCode;
  /** Sign with the certificate's own key instead of the account key (RFC 8555 §7.6). */
  certificateKey?: CryptoKeyPair;
}

/** A raw HTTP exchange, after the body has been read. */
interface RawResponse {
  url: string;
  status: number;
  headers: Headers;
  text: string;
}

interface PostOptions extends RequestOptions {
  /** Sign with a `jwk` header instead of `kid` (newAccount, revocation by certificate key). */
  jwkKey?: CryptoKeyPair;
  accept?: string;
  /**
   * The request is not idempotent (newOrder): after a failure where the server may have acted on it
   * (network error, 500), do not resend.
   */
  unsafe?: boolean;
  /** false: a 429 is thrown, not resent (see {@link NewOrderOptions.resendRateLimited}). */
  resendRateLimited?: boolean;
}

const JOSE = "application/jose+json";
/** Most alternate chains downloaded for one certificate (a CA offers one or two). */
const MAX_ALTERNATES = 8;
/**
 * newNonce is asked with GET, which the server must answer with 204 and a nonce (RFC 8555 §7.2), not
 * HEAD: some servers (Pebble among them) close the connection after a HEAD, so each HEAD cost the next
 * request a new TCP and TLS handshake.
 */
const NONCE_METHOD = "GET";

/** Thrown when a 2xx response's body cannot be used; carries the `Location` header for recovery. */
class UnusableBodyError extends EdgecertError {
  constructor(
    readonly location: string | null,
    cause: unknown,
  ) {
    super("bad_response", cause instanceof Error ? cause.message : String(cause), { cause });
  }
}

/**
 * The most pages of an account's orders list `listOrders` reads: a bound on a malformed or endless
 * `next` chain, far above a real list (at 3 orders a page, Pebble's, 3,000 orders).
 */
const MAX_ORDER_LIST_PAGES = 1_000;

/**
 * An RFC 8555 client: one method per ACME resource operation. It keeps a nonce pool filled from every
 * response, re-signs each retry with a fresh nonce, honours `Retry-After`, backs off transient
 * failures with jitter, and bounds every loop. Every method takes an `AbortSignal`.
 */
export class AcmeClient {
  /** The CA's directory URL this client talks to. */
  readonly directoryUrl: string;
  /** The account URL (`kid`), set by {@link newAccount} / {@link findAccount}. */
  accountUrl: string | undefined;
  private accountKey: CryptoKeyPair;
  private readonly fetchFn: typeof fetch;
  private readonly userAgent: string;
  private readonly retry: RetryPolicy;
  private readonly logger: Logger;
  private readonly nonces: NoncePool;
  /** Work to start once the next request is on its way (see {@link reserveNonces}). */
  private readonly afterNextSend: Array<() => void> = [];
  private readonly parallelNonces: "auto" | "always" | "never";
  private readonly origins: ReadonlySet<string>;
  private readonly farRoundTripMs: number;
  /** Durations of this client's requests (network and CA time, never time spent waiting for a nonce). */
  readonly latency: LatencyMeter = new LatencyMeter();
  private directoryPromise: Promise<AcmeDirectory> | undefined;
  private jwkPromise: Promise<PublicJwk> | undefined;
  private thumbprintPromise: Promise<string> | undefined;

  /** Checks the options (a URL, a key pair CAs accept) without sending anything. */
  constructor(options: AcmeClientOptions) {
    if (!options || typeof options.directoryUrl !== "string") {
      throw new EdgecertError("invalid_input", "directoryUrl is required");
    }
    try {
      new URL(options.directoryUrl);
    } catch {
      throw new EdgecertError("invalid_input", `directoryUrl ${JSON.stringify(options.directoryUrl)} is not a URL`);
    }
    if (!options.accountKey?.privateKey || !options.accountKey.publicKey) {
      throw new EdgecertError("invalid_input", "accountKey must be a CryptoKeyPair");
    }
    checkAccountKey(options.accountKey);
    this.directoryUrl = options.directoryUrl;
    this.accountKey = options.accountKey;
    this.accountUrl = options.accountUrl;
    // workerd rejects an unbound global fetch ("Illegal invocation").
    this.fetchFn = options.fetch ?? globalThis.fetch.bind(globalThis);
    this.userAgent = options.userAgent ?? "edgecert/0.1";
    this.retry = { ...DEFAULT_RETRY_POLICY, ...options.retry };
    this.logger = options.logger ?? silentLogger;
    this.nonces = new NoncePool((signal) => this.fetchNonce(signal));
    this.parallelNonces = options.parallelNonces ?? "auto";
    this.farRoundTripMs = options.farRoundTripMs ?? 25;
    this.origins = new Set([new URL(options.directoryUrl).origin, ...(options.allowedOrigins ?? []).map((o) => new URL(o).origin)]);
  }

  // ---------------------------------------------------------------- directory and nonces

  /** The CA's directory (RFC 8555 §7.1.1), fetched once and cached. */
  directory(options: RequestOptions = {}): Promise<AcmeDirectory> {
    if (!this.directoryPromise) {
      const url = this.directoryUrl;
      this.directoryPromise = this.get(url, options, (r) => {
        // Not JSON stays bad_response (retried: a proxy's page can be a glitch); JSON without the
        // RFC 8555 §7.1.1 resources is another API, said at once.
        const json = parseJsonObject(r.text, r.url, r.status);
        const missing = missingDirectoryResources(json);
        if (missing.length > 0) throw notAcmeDirectory(url, `its JSON has no ${missing.join(", ")}`);
        return asDirectory(json, r.url);
      }).catch((err: unknown) => {
        throw directoryFailure(url, err);
      });
      // A failed fetch is not cached.
      this.directoryPromise.catch(() => (this.directoryPromise = undefined));
    }
    return this.directoryPromise;
  }

  /** Fetches one fresh nonce from newNonce (RFC 8555 §7.2). Normally the pool does this for you. */
  async newNonce(options: RequestOptions = {}): Promise<string> {
    return this.fetchNonce(options.signal);
  }

  /** One nonce from `HEAD newNonce`, retried (bounded) when a response brings none. */
  private async fetchNonce(signal?: AbortSignal): Promise<string> {
    const dir = await this.directory({ signal });
    for (let attempt = 0; ; attempt++) {
      const res = await this.get(dir.newNonce, { signal }, (r) => r, NONCE_METHOD, false);
      const nonce = res.headers.get("replay-nonce");
      if (nonce) return nonce;
      if (attempt + 1 >= this.retry.maxAttempts) {
        throw new EdgecertError("bad_response", `${dir.newNonce} returned no Replay-Nonce`);
      }
      await sleep(backoffDelay(attempt, this.retry.baseDelayMs, this.retry.maxDelayMs), signal);
    }
  }

  /**
   * Readies nonces for `count` signed requests in flight at once (RFC 8555 §6.5: one nonce each).
   * Near the CA this only makes sure the first nonce is on its way; when the CA is far (see
   * {@link AcmeClientOptions.parallelNonces}) it also sends the missing newNonce requests — at most
   * `count − 1` beyond what is already in circulation — all at once, so they cost one round trip
   * together. Resolves (with the number of extra fetches started) once they are sent; their nonces go
   * to requests as they arrive. A failed extra fetch is dropped, never retried: requests then wait for
   * the nonces responses bring back.
   *
   * With `alongsideNextRequest`, the extra fetches are sent right after the client's next request
   * instead (resolving with 0 at once): that request — typically the signed one the first nonce is
   * for, still being signed — keeps the open connection, and the nonce fetches open theirs beside it
   * rather than making it wait for a new TCP and TLS handshake.
   */
  async reserveNonces(count: number, options: RequestOptions & { alongsideNextRequest?: boolean } = {}): Promise<number> {
    const dir = await this.directory(options);
    const fetchOnce = () => this.nonceOnce(dir.newNonce, options.signal);
    // The nonce the next signed request needs anyway; its request is also the cleanest round-trip sample.
    if (this.nonces.circulating === 0) await this.nonces.reserve(1, fetchOnce).settled;
    if (count <= 1 || !this.isFar()) return 0;
    const reserve = () => {
      const { started } = this.nonces.reserve(count, fetchOnce);
      if (started > 0) this.logger.log("debug", "acme.nonces_reserved", { count, started, roundTripMs: this.latency.roundTripMs });
      return started;
    };
    if (!options.alongsideNextRequest) return reserve();
    this.afterNextSend.push(() => void reserve());
    return 0;
  }

  /**
   * Whether this client treats the CA as far (see {@link AcmeClientOptions.parallelNonces}): forced by
   * `parallelNonces`, or a measured round trip of at least `farRoundTripMs`.
   */
  isFar(): boolean {
    if (this.parallelNonces !== "auto") return this.parallelNonces === "always";
    const rtt = this.latency.roundTripMs;
    return rtt !== undefined && rtt >= this.farRoundTripMs;
  }

  /** One newNonce request, not retried (for {@link reserveNonces}); null when it brought no nonce. */
  private async nonceOnce(url: string, signal?: AbortSignal): Promise<string | null> {
    // Error responses carry valid nonces too (RFC 8555 §6.5).
    return (await this.send(url, { method: NONCE_METHOD }, signal)).headers.get("replay-nonce");
  }

  // ---------------------------------------------------------------- accounts

  /** The account key's public JWK. */
  publicJwk(): Promise<PublicJwk> {
    this.jwkPromise ??= exportPublicJwk(this.accountKey.publicKey);
    return this.jwkPromise;
  }

  /** The account key's RFC 7638 thumbprint. */
  thumbprint(): Promise<string> {
    this.thumbprintPromise ??= this.publicJwk().then((jwk) => jwkThumbprint(jwk));
    return this.thumbprintPromise;
  }

  /** The key authorization for a challenge token (RFC 8555 §8.1). */
  async keyAuthorization(token: string): Promise<string> {
    return keyAuthorization(await this.thumbprint(), token);
  }

  /**
   * Creates the account for this key, or returns the existing one (RFC 8555 §7.3). Sets
   * {@link accountUrl}. With `onlyReturnExisting`, throws `AcmeProblem` `accountDoesNotExist` instead of
   * creating (RFC 8555 §7.3.1). Checked before any request: contacts (`invalid_contact`) and — once the
   * directory is read — agreement to the CA's terms when it has them (`terms_not_agreed`).
   */
  async newAccount(options: NewAccountOptions = {}): Promise<AcmeAccount> {
    if (!options.onlyReturnExisting) checkContacts(options.contact);
    const dir = await this.directory(options);
    if (!options.onlyReturnExisting) checkTermsAgreed(dir, options.termsOfServiceAgreed, this.directoryUrl);
    const jwk = await this.publicJwk();
    const payload: Record<string, unknown> = {};
    if (options.onlyReturnExisting) payload.onlyReturnExisting = true;
    else {
      if (options.contact) payload.contact = options.contact;
      if (options.termsOfServiceAgreed !== undefined) payload.termsOfServiceAgreed = options.termsOfServiceAgreed;
      if (options.externalAccountBinding) {
        payload.externalAccountBinding = await createExternalAccountBinding(options.externalAccountBinding, jwk, dir.newAccount);
      } else if (dir.meta?.externalAccountRequired) {
        // RFC 8555 §7.3.4: the server would refuse this request anyway; say why before sending it.
        throw new EdgecertError("invalid_input", "this CA requires External Account Binding (externalAccountBinding)");
      }
    }
    // Safe to repeat: the same key always names the same account (RFC 8555 §7.3.1).
    const { account, created } = await this.post(dir.newAccount, payload, { ...options, jwkKey: this.accountKey }, (res) => {
      const url = res.headers.get("location");
      if (!url) throw new EdgecertError("bad_response", `${dir.newAccount} returned no account Location`);
      return { account: asAccount(parseJsonObject(res.text, res.url, res.status), url), created: res.status === 201 };
    });
    this.requireFollowable(account.url, "the account Location");
    this.accountUrl = account.url;
    this.logger.log("info", "acme.account", { url: account.url, created });
    return account;
  }

  /** Finds the existing account for this key (RFC 8555 §7.3.1) and sets {@link accountUrl}. */
  findAccount(options: RequestOptions = {}): Promise<AcmeAccount> {
    return this.newAccount({ ...options, onlyReturnExisting: true });
  }

  /** Fetches the account object (POST-as-GET to the account URL, RFC 8555 §7.3.3). */
  async getAccount(options: RequestOptions = {}): Promise<AcmeAccount> {
    const url = this.requireAccount();
    return this.post(url, undefined, options, (res) => asAccount(parseJsonObject(res.text, res.url, res.status), url));
  }

  /** Updates the account's contacts (RFC 8555 §7.3.2). */
  async updateAccount(update: { contact?: string[] } & RequestOptions): Promise<AcmeAccount> {
    const url = this.requireAccount();
    checkContacts(update.contact);
    const payload: Record<string, unknown> = {};
    if (update.contact) payload.contact = update.contact;
    return this.post(url, payload, update, (res) => asAccount(parseJsonObject(res.text, res.url, res.status), url));
  }

  /** Deactivates the account; the CA will refuse it from now on (RFC 8555 §7.3.6). */
  async deactivateAccount(options: RequestOptions = {}): Promise<AcmeAccount> {
    const url = this.requireAccount();
    return this.post(url, { status: "deactivated" }, options, (res) => asAccount(parseJsonObject(res.text, res.url, res.status), url));
  }

  /**
   * Replaces the account key (RFC 8555 §7.3.5): an outer JWS by the old key wrapping an inner JWS by the
   * new key. On success this client signs with the new key.
   */
  async rolloverAccountKey(newKey: CryptoKeyPair, options: RequestOptions = {}): Promise<void> {
    const url = this.requireAccount();
    checkAccountKey(newKey);
    const dir = await this.directory(options);
    await this.settle(
      options,
      async () => {
        const inner = await createKeyChangeJws(newKey, url, await this.publicJwk(), dir.keyChange);
        await this.post(dir.keyChange, inner, { ...options, unsafe: true });
      },
      // Not idempotent: once the CA acted, the old key no longer signs for the account. After a
      // failure that may have acted, ask which account the new key names before trying again.
      async (err) => (isAmbiguous(err) && (await this.keyNamesAccount(newKey, url, options)) ? { value: undefined } : undefined),
    );
    this.accountKey = newKey;
    this.jwkPromise = undefined;
    this.thumbprintPromise = undefined;
    this.logger.log("info", "acme.key_rollover", { account: url });
  }

  /** Whether `key` already names the account at `url` (RFC 8555 §7.3.1 `onlyReturnExisting`). */
  private async keyNamesAccount(key: CryptoKeyPair, url: string, options: RequestOptions): Promise<boolean> {
    const dir = await this.directory(options);
    try {
      const location = await this.post(dir.newAccount, { onlyReturnExisting: true }, { ...options, jwkKey: key }, (res) => res.headers.get("location"));
      return location === url;
    } catch (err) {
      if (err instanceof AcmeProblem && err.is("accountDoesNotExist")) return false;
      throw err;
    }
  }

  // ---------------------------------------------------------------- orders

  /**
   * URLs of the account's orders (RFC 8555 §7.1.2.1), following `Link: rel="next"` pages to the end,
   * at most `maxPages` (default 1,000). Servers list at least the pending
   * orders; used to find an order whose creation response was lost. The list is read to its end
   * because its order is the CA's: one that lists oldest first (Pebble) puts the order a recovery
   * looks for, the newest, on the last page.
   */
  async listOrders(options: RequestOptions & { maxPages?: number } = {}): Promise<string[]> {
    const account = await this.getAccount(options);
    if (!account.orders) return [];
    const urls: string[] = [];
    let next: string | undefined = account.orders;
    for (let page = 0; next && page < (options.maxPages ?? MAX_ORDER_LIST_PAGES); page++) {
      const page: string = next;
      const { orders, following } = await this.post(page, undefined, options, (res) => {
        const json = parseJsonObject(res.text, res.url, res.status);
        if (!Array.isArray(json.orders)) throw new EdgecertError("bad_response", `${page} returned a malformed orders list`);
        return { orders: json.orders as unknown[], following: parseLinks(res.headers, res.url).find((l) => l.rel === "next")?.url };
      });
      for (const u of orders) if (typeof u === "string") urls.push(u);
      next = following;
    }
    return urls;
  }

  /**
   * The newest order of this account for exactly `identifiers` that is still `pending` or `ready` and
   * not expired — one that can be carried on — from the orders list (RFC 8555 §7.1.2.1), or undefined.
   * Orders named in `exclude` are skipped. A `valid`, `processing` or `invalid` order is never
   * returned: it cannot take another CSR.
   */
  async findOrder(
    identifiers: ReadonlyArray<string | AcmeIdentifier>,
    options: RequestOptions & { exclude?: ReadonlyArray<string>; now?: number } = {},
  ): Promise<AcmeOrder | undefined> {
    const wanted = toIdentifiers(identifiers);
    const now = options.now ?? Date.now();
    const urls = await this.listOrders(options);
    for (const url of urls.reverse()) {
      if (options.exclude?.includes(url) || !this.followable(url)) continue;
      const order = await this.getOrder(url, options);
      if (order.status !== "pending" && order.status !== "ready") continue;
      if (order.expires !== undefined && Date.parse(order.expires) <= now) continue;
      if (sameIdentifiers(order.identifiers, wanted)) return order;
    }
    return undefined;
  }

  /** Creates an order (RFC 8555 §7.4) for DNS (§9.7.7) and IP (RFC 8738) identifiers. */
  async newOrder(options: NewOrderOptions): Promise<AcmeOrder> {
    const identifiers = toIdentifiers(options.identifiers);
    this.requireAccount();
    const dir = await this.directory(options);
    const payload: Record<string, unknown> = { identifiers };
    if (options.notBefore !== undefined) payload.notBefore = rfc3339(options.notBefore);
    if (options.notAfter !== undefined) payload.notAfter = rfc3339(options.notAfter);
    if (options.profile !== undefined) payload.profile = options.profile;
    if (options.replaces !== undefined) payload.replaces = options.replaces;
    const order = await this.settle(
      options,
      () =>
        this.post(dir.newOrder, payload, { ...options, unsafe: true }, (res) => {
          const url = res.headers.get("location");
          if (!url) throw new EdgecertError("bad_response", `${dir.newOrder} returned no order Location`);
          return this.orderFrom(res, url);
        }),
      async (err) => {
        // The order exists but its body was lost or unusable: read it back rather than create a second one.
        if (err instanceof UnusableBodyError && err.location) return { value: await this.getOrder(err.location, options) };
        if (!isAmbiguous(err)) return undefined;
        // The request may have created the order (reset after sending, truncated answer, 5xx): the
        // account's orders list names it if so (RFC 8555 §7.1.2.1). Only when it does not is the
        // order asked for again, so at most one order for these identifiers is in use.
        const found = await this.findOrder(identifiers, options);
        if (found) this.logger.log("warn", "acme.order_recovered", { url: found.url, after: err.message });
        return found ? { value: found } : undefined;
      },
    );
    this.requireFollowable(order.url, "the order Location");
    const url = order.url;
    this.logger.log("info", "acme.order", { url, status: order.status, identifiers: identifiers.length });
    return order;
  }

  /** Fetches an order (POST-as-GET, RFC 8555 §7.1.3). */
  async getOrder(url: string, options: RequestOptions = {}): Promise<AcmeOrder> {
    return this.post(url, undefined, options, (res) => this.orderFrom(res, url));
  }

  /**
   * Polls an order until it leaves `pending`/`processing` (RFC 8555 §7.4), honouring `Retry-After`,
   * otherwise backing off from tens of milliseconds. Returns the order in whatever state it settled
   * (`ready`, `valid`, `invalid`); the caller decides what that means.
   */
  waitOrder(url: string, options: RequestOptions & PollOptions = {}): Promise<AcmeOrder> {
    return poll(
      (signal) => this.getOrder(url, { signal }),
      (o) => o.status !== "pending" && o.status !== "processing",
      options,
      `order ${url}`,
    );
  }

  /**
   * Finalizes an order with a DER CSR (RFC 8555 §7.4). When the request fails in transport, the order is
   * re-read: if the CA did act on it, that order is returned instead of finalizing twice.
   */
  async finalizeOrder(order: AcmeOrder, csr: Uint8Array, options: RequestOptions = {}): Promise<AcmeOrder> {
    const payload = { csr: base64urlEncode(csr) };
    return this.settle(
      options,
      () => this.post(order.finalize, payload, { ...options, unsafe: true }, (res) => this.orderFrom(res, order.url)),
      async (err) => {
        // Transport failures, unusable bodies and server errors leave it open whether the CA acted:
        // re-read the order, and finalize again only if it is still waiting for a CSR.
        if (!isAmbiguous(err)) return undefined;
        const current = await this.getOrder(order.url, options);
        return current.status !== "ready" ? { value: current } : undefined;
      },
    );
  }

  /** An order from a response, with its `Retry-After`. */
  private orderFrom(res: RawResponse, url: string): AcmeOrder {
    const order = asOrder(parseJsonObject(res.text, res.url, res.status), url);
    const retryAfterMs = parseRetryAfter(res.headers.get("retry-after"));
    if (retryAfterMs !== undefined) order.retryAfterMs = retryAfterMs;
    return order;
  }

  // ---------------------------------------------------------------- authorizations and challenges

  /** Fetches an authorization (POST-as-GET, RFC 8555 §7.5). */
  async getAuthorization(url: string, options: RequestOptions = {}): Promise<AcmeAuthorization> {
    return this.post(url, undefined, options, (res) => {
      const authz = asAuthorization(parseJsonObject(res.text, res.url, res.status), url);
      const retryAfterMs = parseRetryAfter(res.headers.get("retry-after"));
      if (retryAfterMs !== undefined) authz.retryAfterMs = retryAfterMs;
      return authz;
    });
  }

  /** Polls an authorization until it leaves `pending` (RFC 8555 §7.5.1). */
  waitAuthorization(url: string, options: RequestOptions & PollOptions = {}): Promise<AcmeAuthorization> {
    return poll(
      (signal) => this.getAuthorization(url, { signal }),
      (a) => a.status !== "pending",
      options,
      `authorization ${url}`,
    );
  }

  /** Deactivates an authorization (RFC 8555 §7.5.2), e.g. to abandon a pending one. */
  async deactivateAuthorization(url: string, options: RequestOptions = {}): Promise<AcmeAuthorization> {
    return this.post(url, { status: "deactivated" }, options, (res) => asAuthorization(parseJsonObject(res.text, res.url, res.status), url));
  }

  /** Fetches a challenge (POST-as-GET, RFC 8555 §7.5). */
  async getChallenge(url: string, options: RequestOptions = {}): Promise<AcmeChallenge> {
    return this.post(url, undefined, options, (res) => this.challengeFrom(res, url));
  }

  /**
   * Tells the CA the challenge is ready to be validated: POST `{}` (RFC 8555 §7.5.1). A CA may refuse
   * a second `{}` once validation started, so after any failure the challenge is read back: if it
   * left `pending` (processing, valid or invalid) the accept took effect and that is the answer. A
   * challenge still pending after a failure that may not have reached the CA (transport, 5xx) is
   * accepted again, up to `retry.maxAttempts` times with backoff; after a refusal it is thrown.
   */
  async acceptChallenge(url: string, options: RequestOptions = {}): Promise<AcmeChallenge> {
    return this.settle(
      options,
      () => this.post(url, {}, { ...options, unsafe: true }, (res) => this.challengeFrom(res, url)),
      async () => {
        const current = await this.getChallenge(url, options);
        return current.status !== "pending" ? { value: current } : undefined;
      },
    );
  }

  /** A challenge from a response, with its `Retry-After`. */
  private challengeFrom(res: RawResponse, url: string): AcmeChallenge {
    const json = parseJsonObject(res.text, res.url, res.status);
    if (typeof json.type !== "string" || typeof json.status !== "string") {
      throw new EdgecertError("bad_response", `${url} returned a malformed challenge`);
    }
    const challenge: AcmeChallenge = { ...(json as unknown as AcmeChallenge), url: typeof json.url === "string" ? json.url : url };
    const retryAfterMs = parseRetryAfter(res.headers.get("retry-after"));
    if (retryAfterMs !== undefined) challenge.retryAfterMs = retryAfterMs;
    return challenge;
  }

  // ---------------------------------------------------------------- certificates

  /**
   * Downloads a certificate chain (RFC 8555 §7.4.2). With `alternates: true`, also downloads every
   * alternate chain the CA links with `rel="alternate"`.
   */
  async downloadCertificate(
    url: string,
    options: RequestOptions & { alternates?: boolean } = {},
  ): Promise<CertificateChain & { alternates?: CertificateChain[] }> {
    const chain: CertificateChain & { alternates?: CertificateChain[] } = await this.post(
      url,
      undefined,
      { ...options, accept: "application/pem-certificate-chain" },
      (res) => {
        // A chain that does not decode is a bad response (retried), not a certificate.
        try {
          pemDecode(res.text, "CERTIFICATE");
        } catch (cause) {
          throw new EdgecertError("bad_response", `${url} did not return a PEM certificate chain`, { cause });
        }
        return {
          url,
          pem: res.text,
          alternateUrls: parseLinks(res.headers, res.url).filter((l) => l.rel === "alternate").map((l) => l.url),
        };
      },
    );
    if (options.alternates) {
      chain.alternates = [];
      // RFC 8555 §7.4.2: alternates are the CA's links; follow a bounded number, on allowed origins only.
      const seen = new Set([url]);
      const followed = chain.alternateUrls.filter((alt) => {
        if (seen.has(alt)) return false;
        seen.add(alt);
        if (this.followable(alt)) return true;
        this.logger.log("warn", "acme.alternate_skipped", { url: alt, reason: "outside the allowed origins" });
        return false;
      });
      if (followed.length > MAX_ALTERNATES) this.logger.log("warn", "acme.alternates_capped", { offered: followed.length, followed: MAX_ALTERNATES });
      for (const alt of followed.slice(0, MAX_ALTERNATES)) {
        const { alternates: _ignored, ...altChain } = await this.downloadCertificate(alt, { signal: options.signal });
        chain.alternates.push(altChain);
      }
    }
    return chain;
  }

  /**
   * Revokes a certificate (RFC 8555 §7.6), signed by the account key, or by the certificate's own key
   * when `certificateKey` is given.
   */
  async revokeCertificate(certificate: string | Uint8Array, options: RevokeOptions = {}): Promise<void> {
    const der = typeof certificate === "string" ? pemDecode(certificate, "CERTIFICATE").der : toBytes(certificate);
    const dir = await this.directory(options);
    const payload: Record<string, unknown> = { certificate: base64urlEncode(der) };
    if (options.reason !== undefined) payload.reason = options.reason;
    const post: PostOptions = { ...options, unsafe: true };
    if (options.certificateKey) post.jwkKey = options.certificateKey;
    // After a failure that may have acted, `alreadyRevoked` on the next try means it did.
    await this.settle(
      options,
      () => this.post(dir.revokeCert, payload, post),
      async (err, attempt) => (attempt > 1 && err instanceof AcmeProblem && err.is("alreadyRevoked") ? { value: undefined } : undefined),
    );
    this.logger.log("info", "acme.revoked", { reason: options.reason ?? 0 });
  }

  /**
   * Asks the CA when to renew a certificate (ARI, RFC 9773 §4). Throws `EdgecertError("unsupported")`
   * — code `invalid_input` — when the CA has no `renewalInfo` endpoint; check
   * `(await client.directory()).renewalInfo` first.
   */
  async renewalInfo(certificate: string | Uint8Array | CertificateInfo, options: RequestOptions = {}): Promise<RenewalInfo> {
    const dir = await this.directory(options);
    if (!dir.renewalInfo) throw new EdgecertError("invalid_input", "this CA does not offer ARI (no renewalInfo in its directory)");
    const info = typeof certificate === "object" && "serialBytes" in certificate ? certificate : parseCertificate(certificate);
    const url = `${dir.renewalInfo.replace(/\/$/, "")}/${ariCertificateId(info)}`;
    return this.get(url, options, (res) => {
      const json = parseJsonObject(res.text, res.url, res.status);
      const window = json.suggestedWindow as { start?: unknown; end?: unknown } | undefined;
      const start = new Date(String(window?.start));
      const end = new Date(String(window?.end));
      if (Number.isNaN(start.getTime()) || Number.isNaN(end.getTime()) || end < start) {
        throw new EdgecertError("bad_response", `${url} returned a malformed suggestedWindow`);
      }
      const out: RenewalInfo = { suggestedWindow: { start, end } };
      if (typeof json.explanationURL === "string") out.explanationURL = json.explanationURL;
      const retryAfterMs = parseRetryAfter(res.headers.get("retry-after"));
      if (retryAfterMs !== undefined) out.retryAfterMs = clampAriRetryAfter(retryAfterMs);
      return out;
    });
  }

  // ---------------------------------------------------------------- transport

  /** The account URL, or `invalid_input` when there is no account yet. */
  private requireAccount(): string {
    if (!this.accountUrl) {
      throw new EdgecertError("invalid_input", "no account: call newAccount() or findAccount() first, or pass accountUrl");
    }
    return this.accountUrl;
  }

  /** Whether the client may follow `url`: on the directory's origin or an allowed one. */
  private followable(url: string): boolean {
    try {
      return this.origins.has(new URL(url).origin);
    } catch {
      return false;
    }
  }

  /** The error for a CA-supplied URL outside the allowed origins (see `allowedOrigins`). */
  private refusal(url: string, what = "the URL"): EdgecertError {
    const origin = new URL(this.directoryUrl).origin;
    return new EdgecertError("bad_response", `the CA sent ${what} ${url}, outside the directory's origin ${origin}; refusing to follow it (allow it with allowedOrigins)`);
  }

  /** Throws {@link refusal} for a URL the client may not follow. */
  private requireFollowable(url: string, what: string): void {
    if (!this.followable(url)) throw this.refusal(url, what);
  }

  /**
   * One fetch with the per-request timeout joined to the caller's signal. The timeout's timer is stopped
   * once the body is read: a timer left pending (AbortSignal.timeout's, 30 s) kept a Worker's renewer
   * object in memory, unable to hibernate, for that long after its renewal.
   */
  private async send(url: string, init: RequestInit, signal: AbortSignal | undefined): Promise<RawResponse> {
    const timeout = timeoutSignal(this.retry.requestTimeoutMs);
    try {
      return await this.sendWithin(url, init, signal, timeout.signal);
    } finally {
      timeout.clear();
    }
  }

  /** {@link send}'s request under `timeout`: a failure says whether the caller, the timeout or the network ended it. */
  private async sendWithin(url: string, init: RequestInit, signal: AbortSignal | undefined, timeout: AbortSignal): Promise<RawResponse> {
    const combined = signal ? AbortSignal.any([signal, timeout]) : timeout;
    const headers = new Headers(init.headers);
    headers.set("user-agent", this.userAgent);
    let res: Response;
    const started = Date.now();
    try {
      const pending = this.fetchFn(url, { ...init, headers, signal: combined, redirect: "manual" });
      for (const start of this.afterNextSend.splice(0)) start();
      res = await pending;
      this.latency.record(Date.now() - started);
    } catch (cause) {
      if (signal?.aborted) throw abortError(signal);
      const untrusted = timeout.aborted ? undefined : tlsUntrustedError(init.method ?? "GET", url, cause);
      if (untrusted) throw untrusted;
      const what = timeout.aborted ? `timed out after ${this.retry.requestTimeoutMs} ms` : (opaqueFetchFailure(cause) ?? String(cause));
      throw new EdgecertError("network", `${init.method ?? "GET"} ${url} failed: ${what}`, { cause });
    }
    let text = "";
    if (init.method !== "HEAD") {
      try {
        text = await readBodyText(res, url);
      } catch (cause) {
        if (signal?.aborted) throw abortError(signal);
        if (cause instanceof EdgecertError) throw new UnusableBodyError(res.ok ? res.headers.get("location") : null, cause);
        throw new UnusableBodyError(res.ok ? res.headers.get("location") : null,
          new EdgecertError("network", `reading the response of ${url} failed: ${String(cause)}`, { cause }));
      }
    }
    await connectionTurn();
    return { url, status: res.status, headers: res.headers, text };
  }

  /** An unsigned request (directory, newNonce, renewalInfo) with transient-failure retries. */
  private get<T = RawResponse>(
    url: string,
    options: RequestOptions,
    parse: (res: RawResponse) => T = (r) => r as T,
    method = "GET",
    readNonce = true,
  ): Promise<T> {
    if (!this.followable(url)) return Promise.reject(this.refusal(url));
    return this.withRetries(url, options, false, parse, async () => {
      const res = await this.send(url, { method }, options.signal);
      const nonce = res.headers.get("replay-nonce");
      if (readNonce && nonce) this.nonces.add(nonce);
      return res;
    });
  }

  /**
   * A signed POST (RFC 8555 §6.2) — POST-as-GET when `payload` is undefined (§6.3). Each attempt takes a
   * fresh nonce and is signed anew; `badNonce` retries immediately with the nonce that came back (§6.5).
   * `parse` turns the 2xx response into the result inside the retry loop, so an unusable body is
   * retried like any transient failure when the request is safe to repeat.
   */
  private post<T = RawResponse>(url: string, payload: unknown, options: PostOptions, parse: (res: RawResponse) => T = (r) => r as T): Promise<T> {
    if (!this.followable(url)) return Promise.reject(this.refusal(url));
    const headers: Record<string, string> = { "content-type": JOSE };
    if (options.accept) headers.accept = options.accept;
    return this.withRetries(url, options, options.unsafe === true, parse, async () => {
      const nonce = await this.nonces.acquire(options.signal);
      let res: RawResponse | undefined;
      try {
        const signer = options.jwkKey ?? this.accountKey;
        const header = options.jwkKey
          ? { url, nonce, jwk: options.jwkKey === this.accountKey ? await this.publicJwk() : await exportPublicJwk(options.jwkKey.publicKey) }
          : { url, nonce, kid: this.requireAccount() };
        const jws = await signJws(signer.privateKey, header, payload);
        // Invariant 9: the guard is asked after the last await before the send, and send() hands the
        // request to fetch without awaiting anything first — no other task runs between the two.
        if (payload !== undefined) checkSendGuard(options.guard, url);
        res = await this.send(url, { method: "POST", headers, body: JSON.stringify(jws) }, options.signal);
        return res;
      } finally {
        this.nonces.release(res?.headers.get("replay-nonce") ?? null);
      }
    });
  }

  /**
   * Sends a request that is not safe to repeat blindly (newOrder, finalize, a challenge accept,
   * keyChange, revokeCert) until it settles. After a failure, `recover` reads back what the CA holds
   * and returns the outcome when the request did take effect (or an earlier attempt did); otherwise
   * an ambiguous failure (transport, unusable body, non-definitive 5xx) is sent again with backoff —
   * the CA's `Retry-After` when it gave one — up to `retry.maxAttempts` times, and anything else is
   * thrown. An abort, or a request its guard refused (nothing was sent), is thrown at once.
   */
  private async settle<T>(
    options: RequestOptions,
    send: () => Promise<T>,
    recover: (err: EdgecertError, attempt: number) => Promise<{ value: T } | undefined>,
  ): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await send();
      } catch (err) {
        if (!(err instanceof EdgecertError) || err.code === "aborted" || err instanceof SendRefusedError) throw err;
        const settled = await recover(err, attempt);
        if (settled) return settled.value;
        if (!isAmbiguous(err) || attempt >= this.retry.maxAttempts) throw err;
        const retryAfterMs = err instanceof AcmeProblem ? err.retryAfterMs : undefined;
        if (retryAfterMs !== undefined && retryAfterMs > this.retry.maxRetryAfterMs) throw err;
        await sleep(retryAfterMs ?? backoffDelay(attempt - 1, this.retry.baseDelayMs, this.retry.maxDelayMs), options.signal);
      }
    }
  }

  /**
   * Runs `attempt` until it yields a 2xx response, retrying what is safe to retry: `badNonce` (bounded
   * separately), 429/503 with an acceptable `Retry-After` (RFC 8555 §6.6), and — unless `unsafe` —
   * network errors and 5xx with exponential backoff and jitter. Everything else is thrown as
   * {@link AcmeProblem} or `EdgecertError`.
   */
  private async withRetries<T>(
    url: string,
    options: RequestOptions & { resendRateLimited?: boolean },
    unsafe: boolean,
    parse: (res: RawResponse) => T,
    attempt: () => Promise<RawResponse>,
  ): Promise<T> {
    const { signal } = options;
    let transient = 0;
    let badNonces = 0;
    for (;;) {
      throwIfAborted(signal);
      let res: RawResponse;
      let result: { value: T } | undefined;
      try {
        res = await attempt();
        if (res.status >= 200 && res.status < 300) {
          try {
            result = { value: parse(res) };
          } catch (cause) {
            // A 2xx whose body is not what it should be: the request may have acted, so callers of
            // unsafe requests recover through Location instead of resending.
            if (!(cause instanceof EdgecertError) || cause.code !== "bad_response") throw cause;
            throw new UnusableBodyError(res.headers.get("location"), cause);
          }
        }
      } catch (err) {
        const retryable = err instanceof EdgecertError && (err.code === "network" || err.code === "bad_response");
        // A 2xx whose body was lost may still have acted: only idempotent requests are resent.
        if (!retryable || unsafe || ++transient >= this.retry.maxAttempts) throw err;
        const delay = backoffDelay(transient - 1, this.retry.baseDelayMs, this.retry.maxDelayMs);
        this.logger.log("warn", "acme.retry", { url, reason: (err as Error).message, delayMs: Math.round(delay) });
        await sleep(delay, signal);
        continue;
      }
      if (result) return result.value;
      if (res.status >= 300 && res.status < 400) {
        throw new EdgecertError("bad_response", `${url} answered with a redirect (${res.status}); ACME servers must not redirect`);
      }
      const retryAfterMs = parseRetryAfter(res.headers.get("retry-after"));
      const problem = problemFrom(res, retryAfterMs);
      if (problem.is("badNonce") && badNonces++ < this.retry.maxBadNonceRetries) {
        this.logger.log("debug", "acme.bad_nonce", { url, retries: badNonces });
        continue;
      }
      const kind = statusRetryClass(res.status);
      // A request not safe to repeat is resent here only after a 429, a refusal (RFC 8555 §6.6); a
      // 503 can come from a gateway after the CA acted, so its caller recovers as after a 500.
      const repeat = res.status === 429 && options.resendRateLimited === false ? false : unsafe ? res.status === 429 : kind !== "definitive";
      if (repeat && ++transient < this.retry.maxAttempts) {
        if (retryAfterMs !== undefined && retryAfterMs > this.retry.maxRetryAfterMs) throw problem;
        const delay = retryAfterMs ?? backoffDelay(transient - 1, this.retry.baseDelayMs, this.retry.maxDelayMs);
        this.logger.log("warn", "acme.retry", { url, status: res.status, problem: problem.kind, delayMs: Math.round(delay) });
        await sleep(delay, signal);
        continue;
      }
      throw problem;
    }
  }
}

/**
 * Whether a failed non-idempotent request may still have acted: a transport failure, an unusable
 * body or a server error that is not definitive (see {@link statusRetryClass}) — not a problem the
 * CA answered with (it refused), not an abort, not a request its guard kept from being sent.
 */
function isAmbiguous(err: unknown): boolean {
  if (!(err instanceof EdgecertError) || err.code === "aborted" || err instanceof SendRefusedError) return false;
  if (!(err instanceof AcmeProblem)) return true;
  const status = err.status ?? 0;
  return status >= 500 && statusRetryClass(status) !== "definitive";
}

/** Builds an {@link AcmeProblem} from an error response, tolerating bodies that are not problem JSON. */
function problemFrom(res: RawResponse, retryAfterMs: number | undefined): AcmeProblem {
  let doc: Record<string, unknown>;
  try {
    doc = JSON.parse(res.text) as Record<string, unknown>;
    if (typeof doc !== "object" || doc === null) throw new Error("not an object");
  } catch {
    const text = res.text.replace(/\s+/g, " ").trim().slice(0, 200);
    doc = { type: "about:blank", detail: `HTTP ${res.status}${text ? `: ${text}` : ""}` };
  }
  const context: { status: number; url: string; retryAfterMs?: number } = { status: res.status, url: res.url };
  if (retryAfterMs !== undefined) context.retryAfterMs = retryAfterMs;
  return new AcmeProblem(doc, context);
}

function rfc3339(value: Date | string): string {
  const d = typeof value === "string" ? new Date(value) : value;
  if (Number.isNaN(d.getTime())) throw new EdgecertError("invalid_input", `invalid date ${String(value)}`);
  return d.toISOString();
}
