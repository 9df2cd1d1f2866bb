// The mistakes a new user makes in the first hour, against real parts: Pebble, a plain HTTP server
// answering at a wrong directory URL, and a real TLS server whose certificate nobody trusts. Each
// error must be typed, name what is wrong and say what to do; each message is printed for the record.
import { createServer as createHttpServer, type Server } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import type { AddressInfo } from "node:net";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AcmeClient, CertificateManager, EdgecertError, generateKeyPair, MemoryStorage, obtainCertificate } from "../../src/index.ts";
import { openssl } from "../support/openssl.ts";
import { usePebbleBed } from "../support/pebble-bed.ts";
import { countingFetch } from "../support/request-counter.ts";

const bed = usePebbleBed();
const fastRetry = { baseDelayMs: 5, maxDelayMs: 20, maxAttempts: 3 };

/** What a call rejected with, asserted to be an EdgecertError with `code`, and printed. */
async function failure(label: string, promise: Promise<unknown> | (() => unknown), code: string): Promise<EdgecertError> {
  let err: unknown;
  try {
    await (typeof promise === "function" ? promise() : promise);
  } catch (e) {
    err = e;
  }
  console.log(`[first contact] ${label}: ${err instanceof Error ? `${err.name} (${(err as EdgecertError).code}): ${err.message}` : String(err)}`);
  expect(err, String(err)).toBeInstanceOf(EdgecertError);
  expect((err as EdgecertError).code, (err as Error).message).toBe(code);
  return err as EdgecertError;
}

const listen = (server: Server) =>
  new Promise<string>((resolve) => server.listen(0, "127.0.0.1", () => resolve(`127.0.0.1:${(server.address() as AddressInfo).port}`)));
const close = (server: Server | undefined) => new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));

// A web server with the usual wrong targets: a home page, a JSON API, and nothing else (404).
let web: Server | undefined;
let webBase = "";
let untrusted: Server | undefined;
let tlsDir: string | undefined;
let untrustedUrl = "";
beforeAll(async () => {
  web = createHttpServer((req, res) => {
    if (req.url === "/") {
      res.writeHead(200, { "content-type": "text/html" }).end("<!doctype html><title>Example CA</title><h1>Welcome</h1>");
    } else if (req.url === "/api") {
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ version: 2, links: { docs: "/docs" } }));
    } else {
      res.writeHead(404, { "content-type": "text/plain" }).end("not found");
    }
  });
  webBase = `http://${await listen(web)}`;
  // A real TLS server with a self-signed certificate: what a private CA looks like to a default fetch.
  // In a directory of its own (it was a fixed /tmp/fh, which exists only on the machine that wrote it).
  tlsDir = await mkdtemp(join(tmpdir(), "edgecert-first-contact-"));
  const keyFile = join(tlsDir, "first-contact.key");
  const certFile = join(tlsDir, "first-contact.crt");
  await openssl(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-subj", "/CN=127.0.0.1",
    "-addext", "subjectAltName=IP:127.0.0.1", "-days", "2", "-keyout", keyFile, "-out", certFile]);
  const [key, cert] = await Promise.all([readFile(keyFile), readFile(certFile)]);
  untrusted = createHttpsServer({ key, cert }, (_req, res) => res.writeHead(200, { "content-type": "application/json" }).end("{}"));
  untrustedUrl = `https://${await listen(untrusted)}/dir`;
});
afterAll(async () => {
  await close(web);
  await close(untrusted);
  if (tlsDir) await rm(tlsDir, { recursive: true, force: true });
});

describe("wrong directory URL", () => {
  it("a wrong path on the CA (404) is not_acme_directory with the URL, at once", async () => {
    const url = bed.pebble.directoryUrl.replace(/\/dir$/, "/directory");
    const counter = countingFetch(bed.pebble.fetch);
    const client = new AcmeClient({ directoryUrl: url, accountKey: await generateKeyPair(), fetch: counter.fetch, retry: fastRetry });
    const err = await failure("404 path", client.newAccount({ termsOfServiceAgreed: true }), "not_acme_directory");
    expect(err.message).toContain(`${url} is not an ACME directory`);
    expect(err.message).toContain("404");
    expect(counter.count()).toBe(1);
  });

  it("a web page is not_acme_directory after the bounded retries a glitch would get", async () => {
    const counter = countingFetch(globalThis.fetch);
    const client = new AcmeClient({ directoryUrl: `${webBase}/`, accountKey: await generateKeyPair(), fetch: counter.fetch, retry: fastRetry });
    const err = await failure("HTML page", client.directory(), "not_acme_directory");
    expect(err.message).toContain(`${webBase}/ is not an ACME directory`);
    expect(err.message).toContain("not JSON");
    expect(counter.count()).toBe(fastRetry.maxAttempts);
  });

  it("JSON without newNonce/newAccount/newOrder is not_acme_directory at once, naming what is missing", async () => {
    const counter = countingFetch(globalThis.fetch);
    const client = new AcmeClient({ directoryUrl: `${webBase}/api`, accountKey: await generateKeyPair(), fetch: counter.fetch, retry: fastRetry });
    const err = await failure("JSON API", client.directory(), "not_acme_directory");
    expect(err.message).toContain(`${webBase}/api is not an ACME directory`);
    expect(err.message).toMatch(/newNonce, newAccount, newOrder/);
    expect(counter.count()).toBe(1);
  });
});

describe("untrusted CA certificate", () => {
  it("a self-signed TLS server is tls_untrusted with the cause and the fix, not retried", async () => {
    const counter = countingFetch(globalThis.fetch);
    const client = new AcmeClient({ directoryUrl: untrustedUrl, accountKey: await generateKeyPair(), fetch: counter.fetch, retry: fastRetry });
    const err = await failure("self-signed", client.directory(), "tls_untrusted");
    expect(err.message).toMatch(/DEPTH_ZERO_SELF_SIGNED_CERT|SELF_SIGNED/);
    expect(err.message).toContain("NODE_EXTRA_CA_CERTS");
    expect(err.message).toContain("DENO_CERT");
    expect(err.message).toContain("`fetch` option");
    expect(counter.count()).toBe(1);
  });

  it("Pebble with the default fetch is tls_untrusted; with a fetch that trusts its CA it works", async () => {
    const counter = countingFetch(globalThis.fetch);
    const client = new AcmeClient({ directoryUrl: bed.pebble.directoryUrl, accountKey: await generateKeyPair(), fetch: counter.fetch, retry: fastRetry });
    const err = await failure("Pebble, default fetch", client.directory(), "tls_untrusted");
    expect(err.message).toMatch(/UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT|SELF_SIGNED_CERT_IN_CHAIN/);
    expect(counter.count()).toBe(1);
    const trusting = new AcmeClient({ directoryUrl: bed.pebble.directoryUrl, accountKey: await generateKeyPair(), fetch: bed.pebble.fetch });
    expect((await trusting.directory()).newAccount).toMatch(/^https:/);
  });
});

describe("account input checked before any request", () => {
  it("contacts that are not one mailto: address each are invalid_contact, with no request sent", async () => {
    const counter = countingFetch(bed.pebble.fetch);
    const client = new AcmeClient({ directoryUrl: bed.pebble.directoryUrl, accountKey: await generateKeyPair(), fetch: counter.fetch });
    for (const contact of ["ops@example.com", "mailto:a@example.com,b@example.com", "mailto:ops@example.com?subject=hi", "tel:+15555550100", "mailto:not-an-address"]) {
      const err = await failure(`contact ${contact}`, client.newAccount({ contact: [contact], termsOfServiceAgreed: true }), "invalid_contact");
      expect(err.message).toContain(JSON.stringify(contact));
    }
    await failure("manager email with mailto:", () => new CertificateManager({ storage: new MemoryStorage(), directoryUrl: bed.pebble.directoryUrl, email: "mailto:ops@example.com", termsOfServiceAgreed: true }), "invalid_contact");
    expect(counter.count()).toBe(0);
    // A proper contact goes through.
    const account = await client.newAccount({ contact: ["mailto:ops@example.com"], termsOfServiceAgreed: true });
    expect(account.status).toBe("valid");
  });

  it("EdDSA account keys are refused with unsupported_key (client, manager, key rollover), before any request", async () => {
    const ed = await generateKeyPair("EdDSA");
    const err = await failure("EdDSA account key", () => new AcmeClient({ directoryUrl: bed.pebble.directoryUrl, accountKey: ed, fetch: bed.pebble.fetch }), "unsupported_key");
    expect(err.message).toMatch(/ES256/);
    await failure("manager accountKeyType EdDSA", () => new CertificateManager({ storage: new MemoryStorage(), directoryUrl: bed.pebble.directoryUrl, accountKeyType: "EdDSA", termsOfServiceAgreed: true }), "unsupported_key");
    const client = new AcmeClient({ directoryUrl: bed.pebble.directoryUrl, accountKey: await generateKeyPair(), fetch: bed.pebble.fetch });
    await client.newAccount({ termsOfServiceAgreed: true });
    await failure("rollover to EdDSA", client.rolloverAccountKey(ed), "unsupported_key");
  });
});

describe("terms of service are agreed explicitly", () => {
  it("obtainCertificate without termsOfServiceAgreed names the terms URL and creates no account; with it, issues", async () => {
    const terms = (await new AcmeClient({ directoryUrl: bed.pebble.directoryUrl, accountKey: await generateKeyPair(), fetch: bed.pebble.fetch }).directory()).meta?.termsOfService;
    expect(terms).toBeTruthy();
    const counter = countingFetch(bed.pebble.fetch);
    const client = new AcmeClient({ directoryUrl: bed.pebble.directoryUrl, accountKey: await generateKeyPair(), fetch: counter.fetch });
    const err = await failure("obtainCertificate, no agreement", obtainCertificate({ client, names: ["tos.example.test"], solvers: { "http-01": bed.http01 } }), "terms_not_agreed");
    expect(err.message).toContain(terms!);
    expect(err.message).toContain("termsOfServiceAgreed: true");
    expect(counter.requests.filter((r) => r.method === "POST")).toEqual([]);
    expect(client.accountUrl).toBeUndefined();

    const cert = await obtainCertificate({ client, names: ["tos.example.test"], solvers: { "http-01": bed.http01 }, termsOfServiceAgreed: true });
    expect(cert.certificatePem).toContain("BEGIN CERTIFICATE");
  });

  it("CertificateManager without termsOfServiceAgreed fails with terms_not_agreed and stores no account", async () => {
    const storage = new MemoryStorage();
    const manager = new CertificateManager({ storage, directoryUrl: bed.pebble.directoryUrl, fetch: bed.pebble.fetch, lockWaitMs: 10_000 });
    const err = await failure("manager, no agreement", manager.manage(["tos-manager.example.test"]), "terms_not_agreed");
    expect(err.message).toMatch(/terms of service \(.+\)/);
    expect((await storage.list("accounts/")).keys).toEqual([]);
  });
});
