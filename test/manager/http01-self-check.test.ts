/**
 * The http-01 self-check (issue 26, preflight): before a challenge is answered, the manager fetches the
 * token through the public path the CA will use and answers only if it is served. Pebble validates;
 * the self-check's fetch resolves the test names to the responder Pebble uses (127.0.0.1:httpPort),
 * as a server reaching its own name would.
 */
import { describe, expect, it } from "vitest";
import { CertificateManager } from "../../src/manager/certificate-manager.ts";
import { MemoryStorage } from "../../src/storage/memory-storage.ts";
import { isEdgecertError } from "../../src/errors.ts";
import { useManagerBed } from "../support/manager-bed.ts";
import { countingFetch } from "../support/request-counter.ts";

const bed = useManagerBed();

describe("http-01 self-check", () => {
  const manager = (storage: MemoryStorage, counter: ReturnType<typeof countingFetch>) =>
    new CertificateManager({
      termsOfServiceAgreed: true,
      storage,
      directoryUrl: bed.pebble.directoryUrl,
      fetch: counter.fetch,
      http01SelfCheck: {
        attempts: 2,
        delayMs: 50,
        // This "server" reaches its names where Pebble's validator does.
        fetch: (input, init) => fetch(String(input).replace(/^http:\/\/[^/]+/, `http://127.0.0.1:${bed.pebble.httpPort}`), init),
      },
    });
  const accepts = (counter: ReturnType<typeof countingFetch>) => counter.requests.filter((r) => r.method === "POST" && r.url.includes("/chalZ/")).length;

  it("does not answer a challenge the name does not serve: challenge_failed saying what it served, and no challenge answered at the CA", async () => {
    const storage = new MemoryStorage();
    bed.tokens = new MemoryStorage(); // the responder serves nothing: the name points elsewhere
    const counter = countingFetch(bed.pebble.fetch);
    let error: unknown;
    await manager(storage, counter).manage(["selfcheck-miss.example.test"]).catch((err: unknown) => (error = err));
    expect(isEdgecertError(error, "challenge_failed")).toBe(true);
    expect(String(error)).toContain("self-check");
    expect(String(error)).toContain("HTTP 404");
    console.log(`self-check: refused after ${counter.requests.length} CA requests, ${accepts(counter)} challenge answered`);
    expect(accepts(counter)).toBe(0);
  });

  it("answers and issues when the name serves the token", async () => {
    const storage = new MemoryStorage();
    bed.tokens = storage;
    const counter = countingFetch(bed.pebble.fetch);
    const cert = await manager(storage, counter).manage(["selfcheck-ok.example.test"]);
    expect(cert.names).toEqual(["selfcheck-ok.example.test"]);
    expect(accepts(counter)).toBe(1);
  });
});
