/**
 * Lock cases of the storage conformance suite: exclusion under contention, hand-over on release and on
 * lapse, renew, growing tokens, waiting and aborting. Leases that must lapse are short but waited for by
 * polling with a bounded wait, never by a fixed sleep; leases that must hold are long (60 s), so a
 * loaded machine only makes a case slower, never wrong.
 */
import { check, checkText, EVENTUALLY_MS, expectRefusal, plain, sleep, unique, type AddCase } from "./conformance-check.ts";
import type { Lease } from "./storage.ts";

const HOLD_MS = 60_000;

/** Registers the lock cases with `add`. */
export function lockCases(add: AddCase): void {
  add("exclusion under contention: 8 concurrent lock() calls, at most one holder at a time, every fenced increment lands, tokens grow in hand-over order", async (s) => {
    const p = unique("lx");
    const counter = `${p}/counter`;
    const N = 8;
    let inside = 0;
    let most = 0;
    const tokens: number[] = [];
    await Promise.all(
      Array.from({ length: N }, async () => {
        const lease = await s.lock(`${p}/lock`, { ttlMs: HOLD_MS, waitMs: HOLD_MS });
        inside++;
        most = Math.max(most, inside);
        tokens.push(lease.token);
        const raw = await s.get(counter);
        const n = raw === undefined ? 0 : Number(new TextDecoder().decode(raw));
        await sleep(1); // a lock that does not exclude lets the others in here
        try {
          await s.put(counter, String(n + 1), { fence: lease });
        } finally {
          inside--;
          await lease.release();
        }
      }),
    );
    check(most === 1, `${most} callers held lock ${p}/lock at the same time`);
    checkText(await s.get(counter), String(N), "counter after increments under the lock");
    for (let i = 1; i < tokens.length; i++) check(tokens[i]! > tokens[i - 1]!, `tokens must grow in the order the lock was handed over, got ${JSON.stringify(tokens)}`);
  });

  add("hand-over on release: a caller already waiting gets the lock, with a larger token, only after the holder releases", async (s) => {
    const name = `${unique("lr")}/lock`;
    const a = await s.lock(name, { ttlMs: HOLD_MS });
    let got: Lease | undefined;
    const waiting = s.lock(name, { ttlMs: HOLD_MS, waitMs: EVENTUALLY_MS }).then((lease) => (got = lease));
    await sleep(100);
    await expectRefusal(s.lock(name, { waitMs: 0 }), "storage");
    check(got === undefined, "a waiting caller got a lock that was still held");
    await a.release();
    const b = await waiting;
    check(b.token > a.token, `the next holder's token ${b.token} must exceed ${a.token}`);
    await expectRefusal(s.lock(name, { waitMs: 0 }), "storage");
    await a.release(); // the old holder's release must not free the new holder's lock
    await expectRefusal(s.lock(name, { waitMs: 0 }), "storage");
    await s.put(`${name}-fenced`, "b", { fence: b });
    await b.release();
  });

  add("hand-over on lapse: a caller already waiting gets a lapsed lock; the old holder can neither renew nor release it", async (s) => {
    const name = `${unique("ll")}/lock`;
    const a = await s.lock(name, { ttlMs: 1_000 });
    const b = await s.lock(name, { ttlMs: HOLD_MS, waitMs: EVENTUALLY_MS });
    check(b.token > a.token, `the taker's token ${b.token} must exceed the lapsed holder's ${a.token}`);
    await expectRefusal(a.renew(), "storage");
    await a.release();
    await expectRefusal(s.lock(name, { waitMs: 0 }), "storage");
    await expectRefusal(s.put(`${name}-fenced`, "a", { fence: plain(a) }), "lease_lost");
    await s.put(`${name}-fenced`, "b", { fence: b });
    await b.release();
  });

  add("renew extends the lease: past its first expiry it still excludes and still writes; renew after release fails", async (s) => {
    const name = `${unique("rn")}/lock`;
    const lease = await s.lock(name, { ttlMs: 1_200 });
    const first = lease.expiresAt;
    await lease.renew(HOLD_MS);
    check(lease.expiresAt > first, `renew must move expiresAt later (${first} → ${lease.expiresAt})`);
    await sleep(Math.max(0, first - Date.now()) + 300); // past the first expiry, far inside the renewed one
    await s.put(`${name}-fenced`, "after the first expiry", { fence: plain(lease) });
    await expectRefusal(s.lock(name, { waitMs: 0 }), "storage");
    await lease.renew();
    await lease.release();
    await expectRefusal(lease.renew(), "storage");
    await lease.release(); // idempotent
    const next = await s.lock(name, { waitMs: 0 });
    await next.release();
  });

  add("fencing tokens grow strictly across releases, on every lock name", async (s) => {
    const name = `${unique("tk")}/lock`;
    const tokens: number[] = [];
    for (let i = 0; i < 5; i++) {
      const lease = await s.lock(name, { ttlMs: HOLD_MS, waitMs: 0 });
      check(lease.name === name, `lease.name is ${JSON.stringify(lease.name)}, expected ${JSON.stringify(name)}`);
      tokens.push(lease.token);
      await lease.release();
    }
    for (let i = 1; i < tokens.length; i++) check(tokens[i]! > tokens[i - 1]!, `tokens must grow, got ${JSON.stringify(tokens)}`);
    const other = await s.lock(`${unique("tk")}/other`, { waitMs: 0 });
    check(Number.isSafeInteger(other.token) && other.token > 0, `a token must be a positive safe integer, got ${other.token}`);
    await other.release();
  });

  add("waitMs running out fails with EdgecertError(storage) and holds nothing", async (s) => {
    const name = `${unique("wt")}/lock`;
    const held = await s.lock(name, { ttlMs: HOLD_MS });
    const started = Date.now();
    await expectRefusal(s.lock(name, { waitMs: 150 }), "storage");
    check(Date.now() - started >= 120, `lock gave up after ${Date.now() - started} ms, before its waitMs of 150`);
    await expectRefusal(s.lock(name, { waitMs: 0 }), "storage");
    await held.release();
    const next = await s.lock(name, { waitMs: 0 });
    await next.release();
  });

  add("an abort signal stops lock() before and while waiting, with EdgecertError(aborted), holding nothing", async (s) => {
    const name = `${unique("ab")}/lock`;
    await expectRefusal(s.lock(name, { signal: AbortSignal.abort() }), "aborted");
    const held = await s.lock(name, { ttlMs: HOLD_MS, waitMs: 0 }); // the aborted call left nothing held
    const controller = new AbortController();
    const waiting = s.lock(name, { waitMs: EVENTUALLY_MS, signal: controller.signal });
    setTimeout(() => controller.abort(), 50);
    await expectRefusal(waiting, "aborted");
    await held.release();
    const next = await s.lock(name, { waitMs: 0 });
    await next.release();
  });

  add("bad lock names and options are rejected with invalid_input", async (s) => {
    await expectRefusal(s.lock("../x"), "invalid_input");
    await expectRefusal(s.lock("ok", { ttlMs: 0 }), "invalid_input");
    await expectRefusal(s.lock("ok", { ttlMs: Number.NaN }), "invalid_input");
    await expectRefusal(s.lock("ok", { waitMs: -1 }), "invalid_input");
    const lease = await s.lock(`${unique("bn")}/ok`, { waitMs: 0 });
    await expectRefusal(lease.renew(-5), "invalid_input");
    await lease.release();
  });
}
