/**
 * A small in-process ACME CA for the manager's interleaving search, which must schedule every CA
 * response step by step — something a real server (Pebble) cannot do. It follows RFC 8555 for what
 * the manager uses, and says where it takes an option the RFC allows:
 * - §7.1.1 directory, §7.2 newNonce, §6.5 nonces (every response carries a fresh `Replay-Nonce`; an
 *   unknown or used nonce is `badNonce`), §6.2/§6.3 JWS (ES256, `url` must equal the request URL,
 *   `jwk` for newAccount and `kid` otherwise, signature verified), §6.3 POST-as-GET.
 * - §7.3 newAccount (an existing key gets 200 and its URL), §7.1.2.1 the account's orders list.
 * - §7.4 newOrder → §7.1.3 order, §7.1.4 authorizations, §8.3 http-01: the key authorization is read
 *   from the storage the managers publish tokens to — what the CA's fetch of
 *   `/.well-known/acme-challenge/<token>` would return. Validation runs when the challenge is
 *   accepted and finishes at once (§7.5.1 lets a server do so); finalize issues at once and answers
 *   `valid` (§7.4 allows this instead of `processing`).
 * - §7.1.6 states: an order whose `expires` passed, or one of whose authorizations failed, is
 *   `invalid`; an order the CA "forgot" (see {@link StandInCa.forget}) answers 404.
 * - §7.4.2 certificate download (PEM chain), §7.6 revocation (`alreadyRevoked` when repeated).
 * - RFC 9773 renewalInfo: a window at a fraction of the lifetime, with `Retry-After`.
 * It does not verify the CSR's self-signature (PKCS#10, not RFC 8555), reuses no authorization, and
 * its tokens are counters rather than random (so a seed replays exactly).
 * Certificates carry serial numbers that only grow, so "older" has an independent meaning in tests.
 */
import { AsnConvert, OctetString } from "@peculiar/asn1-schema";
import {
  AuthorityKeyIdentifier,
  Certificate,
  Extension,
  Extensions,
  KeyIdentifier,
  SubjectPublicKeyInfo,
  TBSCertificate,
  Validity,
  Version,
  id_ce_authorityKeyIdentifier,
} from "@peculiar/asn1-x509";
import { ariCertificateId } from "../../src/acme/renewal-info.ts";
import { base64urlDecode, base64urlEncode } from "../../src/webcrypto/base64url.ts";
import { concatBytes } from "../../src/webcrypto/bytes.ts";
import { decodeOid, encodeDer, readDer, readDerChildren } from "../../src/webcrypto/der.ts";
import { readCsrNames } from "../../src/webcrypto/csr.ts";
import { commonNameSubject, subjectAltNameExtension } from "../../src/webcrypto/x509-names.ts";
import { jwkThumbprint, type PublicJwk } from "../../src/webcrypto/jwk.ts";
import { generateKeyPair } from "../../src/webcrypto/keys.ts";
import { pemEncode } from "../../src/webcrypto/pem.ts";
import { signForX509, x509SignatureAlgorithm } from "../../src/webcrypto/x509-signature.ts";

/** Options for {@link StandInCa}. */
export interface StandInCaOptions {
  /** The CA's clock (epoch ms). */
  now: () => number;
  /** Lifetime of issued certificates. */
  lifetimeMs: number;
  /**
   * What the CA's http-01 fetch of a token would return (the key authorization), if anything; `name` is
   * the identifier being validated (the Host the fetch would carry, RFC 8555 §8.3).
   */
  token: (token: string, name: string) => Promise<string | undefined>;
  /** Offer renewalInfo (RFC 9773): window as fractions of the lifetime, and Retry-After seconds. */
  ari?: { start: number; end: number; retryAfterSeconds: number };
  /** Origin of every URL (default https://ca.test). */
  origin?: string;
}

type Status = "pending" | "ready" | "processing" | "valid" | "invalid";

interface Account {
  url: string;
  key: CryptoKey;
  jwk: PublicJwk;
  thumbprint: string;
  orders: string[];
}
interface Authz {
  url: string;
  status: "pending" | "valid" | "invalid";
  identifier: { type: string; value: string };
  challenge: { type: "http-01"; url: string; token: string; status: "pending" | "valid" | "invalid"; error?: unknown };
}
/** An order as the CA keeps it. */
export interface CaOrder {
  url: string;
  account: string;
  status: Status;
  identifiers: Array<{ type: string; value: string }>;
  authorizations: string[];
  expires: number;
  certificate?: string;
  replaces?: string;
  error?: unknown;
}
/** A certificate the CA issued. */
export interface CaCertificate {
  url: string;
  serial: bigint;
  pem: string;
  orderUrl: string;
  account: string;
  names: string[];
  notBefore: number;
  revoked: boolean;
  ariId: string;
}

const PROBLEM = "urn:ietf:params:acme:error:";

/** The CA's root: its key, certificate, and the parts every certificate it issues repeats (DER). */
interface CaRoot {
  key: CryptoKeyPair;
  pem: string;
  keyId: Uint8Array<ArrayBuffer>;
  name: Uint8Array<ArrayBuffer>;
  algorithm: Uint8Array<ArrayBuffer>;
  aki: Extension;
}

/** version [0] EXPLICIT INTEGER v3(2) (RFC 5280 §4.1.2.1). */
const VERSION_3 = Uint8Array.of(0xa0, 0x03, 0x02, 0x01, 0x02);

/** See the module comment. */
export class StandInCa {
  readonly origin: string;
  readonly directoryUrl: string;
  readonly orders = new Map<string, CaOrder>();
  readonly authzs = new Map<string, Authz>();
  /** Authorizations by their challenge's URL (a lookup per challenge request, not a scan of every authorization). */
  readonly #byChallenge = new Map<string, Authz>();
  readonly certificates = new Map<string, CaCertificate>();
  /** Every newOrder the CA accepted, in order. */
  readonly newOrders: Array<{ order: CaOrder; at: number }> = [];
  /** Called when a newOrder is about to be accepted (the search checks its invariant here). */
  onNewOrder?: (order: CaOrder) => void;
  readonly #accounts = new Map<string, Account>();
  readonly #nonces = new Set<string>();
  readonly #forgotten = new Set<string>();
  #counter = 0;
  #serial = 0n;
  #caKey: Promise<CaRoot>;

  constructor(private readonly options: StandInCaOptions) {
    this.origin = options.origin ?? "https://ca.test";
    this.directoryUrl = `${this.origin}/dir`;
    this.#caKey = this.#makeRoot();
  }

  /** The CA drops an order: it answers 404 from now on (§7.1.6 leaves retention to the server). */
  forget(orderUrl: string): void {
    this.#forgotten.add(orderUrl);
    this.orders.delete(orderUrl);
  }

  /** Every authorization of the order a token belongs to is finished (valid or invalid), or the order is gone. */
  tokenFinished(token: string): boolean {
    for (const authz of this.authzs.values()) {
      if (authz.challenge.token === token) return authz.status !== "pending";
    }
    return true;
  }

  /** The fetch the managers use. */
  readonly fetch: typeof fetch = async (input, init) => {
    const url = typeof input === "string" ? input : input instanceof URL ? input.href : input.url;
    // A Request (a Worker's outbound request) carries its own method and body.
    const request = typeof input === "object" && "method" in input && init === undefined ? input : undefined;
    const method = (request?.method ?? init?.method ?? "GET").toUpperCase();
    const body = request ? (method === "POST" ? await request.text() : "") : typeof init?.body === "string" ? init.body : init?.body ? new TextDecoder().decode(init.body as Uint8Array) : "";
    try {
      return await this.#route(method, url, body);
    } catch (err) {
      if (err instanceof Response) return err;
      throw err;
    }
  };

  async #route(method: string, url: string, body: string): Promise<Response> {
    const path = url.startsWith(this.origin) ? url.slice(this.origin.length) : url;
    if (path === "/dir" && method === "GET") {
      const dir: Record<string, unknown> = {
        newNonce: `${this.origin}/nonce`,
        newAccount: `${this.origin}/new-account`,
        newOrder: `${this.origin}/new-order`,
        revokeCert: `${this.origin}/revoke`,
        keyChange: `${this.origin}/key-change`,
      };
      if (this.options.ari) dir.renewalInfo = `${this.origin}/renewal-info`;
      return this.#json(200, dir);
    }
    if (path === "/nonce") return new Response(null, { status: method === "HEAD" ? 200 : 204, headers: { "replay-nonce": this.#nonce(), "cache-control": "no-store" } });
    if (path.startsWith("/renewal-info/") && method === "GET") return this.#renewalInfo(path.slice("/renewal-info/".length));
    if (method !== "POST") return this.#problem(405, "malformed", "method not allowed");
    const { payload, account, jwk } = await this.#verify(url, body);
    if (path === "/new-account") return this.#newAccount(jwk!);
    if (!account) return this.#problem(400, "accountDoesNotExist", "unknown account");
    if (path === "/new-order") return this.#newOrder(account, payload as { identifiers?: Array<{ type: string; value: string }>; replaces?: string });
    if (path === "/revoke") return this.#revoke(account, payload as { certificate: string });
    if (path === account.url) return this.#json(200, { status: "valid", orders: `${account.url}/orders` }, { location: account.url });
    if (path === `${account.url}/orders`) {
      const live = account.orders.filter((u) => this.orders.has(u) && this.#orderStatus(this.orders.get(u)!) !== "invalid");
      return this.#json(200, { orders: live.map((u) => `${this.origin}${u}`) });
    }
    const [, kind, id, sub] = path.split("/");
    if (kind === "order" && id) {
      const key = `/order/${id}`;
      const order = this.orders.get(key);
      if (!order || order.account !== account.url) return this.#problem(404, "malformed", this.#forgotten.has(key) ? "order gone" : "no such order");
      if (sub === "finalize") return this.#finalize(order, payload as { csr: string });
      return this.#json(200, this.#orderJson(order), { location: `${this.origin}${key}` });
    }
    if (kind === "authz" && id) {
      const authz = this.authzs.get(`/authz/${id}`);
      if (!authz) return this.#problem(404, "malformed", "no such authorization");
      return this.#json(200, this.#authzJson(authz));
    }
    if (kind === "chall" && id) return this.#challenge(account, `/chall/${id}`, payload);
    if (kind === "cert" && id) {
      const cert = this.certificates.get(`/cert/${id}`);
      if (!cert) return this.#problem(404, "malformed", "no such certificate");
      const root = await this.#caKey;
      return new Response(cert.pem + root.pem, { status: 200, headers: { "content-type": "application/pem-certificate-chain", "replay-nonce": this.#nonce() } });
    }
    return this.#problem(404, "malformed", `no resource ${path}`);
  }

  // ---------------------------------------------------------------- resources

  async #newAccount(jwk: PublicJwk): Promise<Response> {
    const thumbprint = await jwkThumbprint(jwk);
    for (const a of this.#accounts.values()) {
      if (a.thumbprint === thumbprint) return this.#json(200, { status: "valid", orders: `${this.origin}${a.url}/orders` }, { location: `${this.origin}${a.url}` });
    }
    const key = await crypto.subtle.importKey("jwk", jwk as JsonWebKey, { name: "ECDSA", namedCurve: "P-256" }, true, ["verify"]);
    const account: Account = { url: `/acct/${++this.#counter}`, key, jwk, thumbprint, orders: [] };
    this.#accounts.set(account.url, account);
    return this.#json(201, { status: "valid", orders: `${this.origin}${account.url}/orders` }, { location: `${this.origin}${account.url}` });
  }

  #newOrder(account: Account, payload: { identifiers?: Array<{ type: string; value: string }>; replaces?: string }): Response {
    const identifiers = payload?.identifiers;
    if (!Array.isArray(identifiers) || identifiers.length === 0) return this.#problem(400, "malformed", "identifiers required");
    const n = ++this.#counter;
    const order: CaOrder = {
      url: `/order/${n}`,
      account: account.url,
      status: "pending",
      identifiers: identifiers.map((i) => ({ type: i.type, value: i.value })),
      authorizations: [],
      expires: this.options.now() + 7 * 86_400_000,
    };
    if (payload.replaces !== undefined) {
      const replaced = [...this.certificates.values()].find((c) => c.ariId === payload.replaces);
      // RFC 9773 §5: the replaced certificate must be one of this account's.
      if (!replaced || replaced.account !== account.url) return this.#problem(400, "malformed", "replaces names no certificate of this account");
      order.replaces = payload.replaces;
    }
    for (const identifier of order.identifiers) {
      const a = ++this.#counter;
      const authz: Authz = {
        url: `/authz/${a}`,
        status: "pending",
        identifier,
        // A counter, not §8.1's 128 random bits: schedules must replay exactly (a departure, for tests).
        challenge: { type: "http-01", url: `/chall/${a}`, token: `token${String(a).padStart(20, "0")}`, status: "pending" },
      };
      this.authzs.set(authz.url, authz);
      this.#byChallenge.set(authz.challenge.url, authz);
      order.authorizations.push(authz.url);
    }
    this.onNewOrder?.(order);
    this.orders.set(order.url, order);
    account.orders.push(order.url);
    this.newOrders.push({ order, at: this.options.now() });
    return this.#json(201, this.#orderJson(order), { location: `${this.origin}${order.url}` });
  }

  async #challenge(account: Account, key: string, payload: unknown): Promise<Response> {
    const authz = this.#byChallenge.get(key);
    if (!authz) return this.#problem(404, "malformed", "no such challenge");
    // POST-as-GET reads it; a JSON object payload ({}) asks the server to validate (§7.5.1).
    if (payload !== undefined && authz.status === "pending" && authz.challenge.status === "pending") {
      const expected = `${authz.challenge.token}.${account.thumbprint}`;
      const served = await this.options.token(authz.challenge.token, authz.identifier.value);
      if (served === expected) {
        authz.challenge.status = "valid";
        authz.status = "valid";
      } else {
        authz.challenge.status = "invalid";
        authz.challenge.error = { type: `${PROBLEM}unauthorized`, detail: `token ${authz.challenge.token}: got ${served === undefined ? "404" : "a wrong key authorization"}`, status: 403 };
        authz.status = "invalid";
      }
    }
    return this.#json(200, this.#challengeJson(authz), { link: `<${this.origin}${authz.url}>;rel="up"` });
  }

  async #finalize(order: CaOrder, payload: { csr: string }): Promise<Response> {
    if (this.#orderStatus(order) !== "ready") return this.#problem(403, "orderNotReady", `order is ${this.#orderStatus(order)}`);
    let der: Uint8Array<ArrayBuffer>;
    let names: string[];
    try {
      der = base64urlDecode(payload.csr);
      const read = csrDnsNames(der) ?? readCsrNames(der);
      names = [...read.dnsNames, ...read.ipAddresses].sort();
    } catch {
      return this.#problem(400, "badCSR", "unreadable CSR");
    }
    const wanted = order.identifiers.map((i) => i.value).sort();
    if (names.join(",") !== wanted.join(",")) return this.#problem(400, "badCSR", "CSR names differ from the order");
    // The subject public key, read with the small DER reader (the schema parser is slow).
    const info = readDerChildren(readDer(der).value)[0]!;
    const [, subject, spki] = readDerChildren(info.value);
    const spkiDer = info.value.slice(subject!.end, spki!.end);
    const cert = await this.#issue(order, spkiDer, names);
    order.status = "valid";
    order.certificate = cert.url;
    return this.#json(200, this.#orderJson(order), { location: `${this.origin}${order.url}` });
  }

  #revoke(account: Account, payload: { certificate: string }): Response {
    const der = base64urlDecode(payload.certificate);
    const cert = [...this.certificates.values()].find((c) => pemEncode("CERTIFICATE", der) === c.pem);
    if (!cert || cert.account !== account.url) return this.#problem(403, "unauthorized", "not this account's certificate");
    if (cert.revoked) return this.#problem(400, "alreadyRevoked", "already revoked");
    cert.revoked = true;
    return new Response(null, { status: 200, headers: { "replay-nonce": this.#nonce() } });
  }

  #renewalInfo(id: string): Response {
    const cert = [...this.certificates.values()].find((c) => c.ariId === id);
    const ari = this.options.ari;
    if (!cert || !ari) return this.#problem(404, "malformed", "unknown certificate");
    const life = this.options.lifetimeMs;
    const window = { start: new Date(cert.notBefore + life * ari.start).toISOString(), end: new Date(cert.notBefore + life * ari.end).toISOString() };
    return new Response(JSON.stringify({ suggestedWindow: window }), { status: 200, headers: { "content-type": "application/json", "retry-after": String(ari.retryAfterSeconds) } });
  }

  // ---------------------------------------------------------------- helpers

  async #issue(order: CaOrder, spkiDer: Uint8Array<ArrayBuffer>, names: string[]): Promise<CaCertificate> {
    const root = await this.#caKey;
    const serial = ++this.#serial;
    const serialBytes = new Uint8Array(8);
    new DataView(serialBytes.buffer).setBigUint64(0, serial + (1n << 56n));
    const notBefore = this.options.now();
    // RFC 5280 §4.1: each part serialized by the schema package, the SEQUENCEs around them and the
    // subject key (the CSR's own DER) put together as bytes — serializing the whole TBSCertificate
    // object cost more than the rest of an issuance in the 100,000-name simulation.
    const der = (tag: number, ...parts: Uint8Array<ArrayBuffer>[]) => encodeDer(tag, concatBytes(...parts));
    const serialize = (value: object) => new Uint8Array(AsnConvert.serialize(value));
    const extensions = serialize(new Extensions([subjectAltNameExtension(names, []), root.aki]));
    const tbs = der(
      0x30,
      VERSION_3,
      der(0x02, serialBytes),
      root.algorithm, // RFC 5280 §4.1.2.3: the TBS signature field equals the outer signatureAlgorithm.
      root.name,
      serialize(new Validity({ notBefore: new Date(notBefore), notAfter: new Date(notBefore + this.options.lifetimeMs) })),
      serialize(commonNameSubject(names[0])),
      spkiDer,
      der(0xa3, extensions),
    );
    const { signature } = await signForX509(root.key.privateKey, tbs);
    const certificateDer = der(0x30, tbs, root.algorithm, der(0x03, Uint8Array.of(0), new Uint8Array(signature)));
    const pem = pemEncode("CERTIFICATE", certificateDer);
    const url = `/cert/${++this.#counter}`;
    const ariId = ariCertificateId({ authorityKeyIdentifierBytes: root.keyId, serialBytes });
    const cert: CaCertificate = { url, serial, pem, orderUrl: order.url, account: order.account, names, notBefore, revoked: false, ariId };
    this.certificates.set(url, cert);
    return cert;
  }

  async #makeRoot(): Promise<CaRoot> {
    const key = await generateKeyPair("ES256");
    const spkiDer = new Uint8Array(await crypto.subtle.exportKey("spki", key.publicKey));
    const keyId = new Uint8Array(await crypto.subtle.digest("SHA-256", spkiDer)).slice(0, 20);
    const name = commonNameSubject("stand-in CA");
    const tbs = new TBSCertificate({
      version: Version.v3,
      serialNumber: new Uint8Array([1]).buffer,
      issuer: name,
      subject: name,
      validity: new Validity({ notBefore: new Date(Date.UTC(2020, 0, 1)), notAfter: new Date(Date.UTC(2099, 0, 1)) }),
      subjectPublicKeyInfo: AsnConvert.parse(spkiDer, SubjectPublicKeyInfo),
    });
    tbs.signature = x509SignatureAlgorithm(key.privateKey);
    const { algorithm, signature } = await signForX509(key.privateKey, new Uint8Array(AsnConvert.serialize(tbs)));
    const der = new Uint8Array(AsnConvert.serialize(new Certificate({ tbsCertificate: tbs, signatureAlgorithm: algorithm, signatureValue: signature })));
    const aki = new Extension({
      extnID: id_ce_authorityKeyIdentifier,
      critical: false,
      extnValue: new OctetString(AsnConvert.serialize(new AuthorityKeyIdentifier({ keyIdentifier: new KeyIdentifier(keyId) }))),
    });
    const serialize = (value: object) => new Uint8Array(AsnConvert.serialize(value));
    return { key, pem: pemEncode("CERTIFICATE", der), keyId, name: serialize(name), algorithm: serialize(algorithm), aki };
  }

  /** RFC 8555 §6.2–6.4: a flattened JWS, ES256, whose `url` is the request URL and whose nonce we issued. */
  async #verify(url: string, body: string): Promise<{ payload: unknown; account?: Account; jwk?: PublicJwk }> {
    let jws: { protected: string; payload: string; signature: string };
    let header: { alg?: string; nonce?: string; url?: string; jwk?: PublicJwk; kid?: string };
    try {
      jws = JSON.parse(body) as typeof jws;
      header = JSON.parse(new TextDecoder().decode(base64urlDecode(jws.protected))) as typeof header;
    } catch {
      throw this.#problem(400, "malformed", "not a JWS");
    }
    if (header.alg !== "ES256") throw this.#problem(400, "badSignatureAlgorithm", "ES256 only");
    if (!header.nonce || !this.#nonces.delete(header.nonce)) throw this.#problem(400, "badNonce", "unknown or used nonce");
    if (header.url !== url) throw this.#problem(401, "unauthorized", "url header differs from the request URL");
    let account: Account | undefined;
    let key: CryptoKey;
    if (header.jwk) {
      key = await crypto.subtle.importKey("jwk", header.jwk as JsonWebKey, { name: "ECDSA", namedCurve: "P-256" }, true, ["verify"]);
    } else {
      account = header.kid ? this.#accounts.get(header.kid.startsWith(this.origin) ? header.kid.slice(this.origin.length) : header.kid) : undefined;
      if (!account) throw this.#problem(400, "accountDoesNotExist", "unknown kid");
      key = account.key;
    }
    const ok = await crypto.subtle.verify(
      { name: "ECDSA", hash: "SHA-256" },
      key,
      base64urlDecode(jws.signature),
      new TextEncoder().encode(`${jws.protected}.${jws.payload}`),
    );
    if (!ok) throw this.#problem(400, "malformed", "bad signature");
    const payload = jws.payload === "" ? undefined : (JSON.parse(new TextDecoder().decode(base64urlDecode(jws.payload))) as unknown);
    return header.jwk ? { payload, jwk: header.jwk } : { payload, account: account! };
  }

  #orderStatus(order: CaOrder): Status {
    if (order.status === "pending" || order.status === "ready") {
      // §7.1.6: an expired order, or one with a failed authorization, is invalid.
      if (this.options.now() >= order.expires) order.status = "invalid";
      else {
        const states = order.authorizations.map((u) => this.authzs.get(u)!.status);
        if (states.includes("invalid")) {
          order.status = "invalid";
          order.error = { type: `${PROBLEM}unauthorized`, detail: "an authorization failed" };
        } else if (states.every((s) => s === "valid")) order.status = "ready";
      }
    }
    return order.status;
  }

  #orderJson(order: CaOrder): unknown {
    const status = this.#orderStatus(order);
    return {
      status,
      expires: new Date(order.expires).toISOString(),
      identifiers: order.identifiers,
      authorizations: order.authorizations.map((u) => `${this.origin}${u}`),
      finalize: `${this.origin}${order.url}/finalize`,
      ...(order.certificate ? { certificate: `${this.origin}${order.certificate}` } : {}),
      ...(order.error && status === "invalid" ? { error: order.error } : {}),
    };
  }

  #authzJson(authz: Authz): unknown {
    return { status: authz.status, identifier: authz.identifier, challenges: [this.#challengeJson(authz)], expires: new Date(this.options.now() + 7 * 86_400_000).toISOString() };
  }

  #challengeJson(authz: Authz): unknown {
    const c = authz.challenge;
    return { type: c.type, url: `${this.origin}${c.url}`, token: c.token, status: c.status, ...(c.error ? { error: c.error } : {}) };
  }

  #nonce(): string {
    const nonce = base64urlEncode(crypto.getRandomValues(new Uint8Array(12)));
    this.#nonces.add(nonce);
    return nonce;
  }

  #json(status: number, body: unknown, headers: Record<string, string> = {}): Response {
    return new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json", "replay-nonce": this.#nonce(), ...headers } });
  }

  #problem(status: number, type: string, detail: string): Response {
    return new Response(JSON.stringify({ type: `${PROBLEM}${type}`, detail, status }), {
      status,
      headers: { "content-type": "application/problem+json", "replay-nonce": this.#nonce() },
    });
  }
}

/**
 * The DNS names of a CSR's subjectAltName request, read with the small DER reader like its subject
 * key below (RFC 2986 §4.1, RFC 5280 §4.2.1.6; the schema parser cost a quarter of the CA's time in
 * the 100,000-name simulation); undefined for any other shape (IP addresses, no extension request),
 * which `readCsrNames` reads.
 */
function csrDnsNames(csr: Uint8Array<ArrayBuffer>): { dnsNames: string[]; ipAddresses: string[] } | undefined {
  try {
    const info = readDerChildren(readDer(csr).value)[0]!;
    const attributes = readDerChildren(info.value).find((e) => e.tag === 0xa0);
    for (const attribute of attributes ? readDerChildren(attributes.value) : []) {
      const [type, values] = readDerChildren(attribute.value);
      if (!type || !values || type.tag !== 0x06 || decodeOid(type.value) !== "1.2.840.113549.1.9.14") continue;
      for (const extensions of readDerChildren(values.value)) {
        for (const extension of readDerChildren(extensions.value)) {
          const parts = readDerChildren(extension.value);
          if (decodeOid(parts[0]!.value) !== "2.5.29.17") continue;
          const names = readDerChildren(readDer(parts.at(-1)!.value).value);
          if (names.length === 0 || names.some((n) => n.tag !== 0x82)) return undefined;
          return { dnsNames: names.map((n) => new TextDecoder().decode(n.value)), ipAddresses: [] };
        }
      }
    }
  } catch {
    return undefined;
  }
  return undefined;
}
