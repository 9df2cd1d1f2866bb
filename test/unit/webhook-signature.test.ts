import { createHmac } from "node:crypto";
import { Webhook } from "standardwebhooks";
import { describe, expect, it } from "vitest";
import { isEdgecertError, newWebhookSecret, signWebhook, verifyWebhook } from "../../src/index.ts";

// Our signer and verifier against two independent implementations of the Standard Webhooks scheme:
// the `standardwebhooks` npm package (the scheme's own JavaScript library) and node:crypto HMAC.
const BODY = JSON.stringify({ type: "certificate.renewed", timestamp: "2026-12-02T10:00:00.000Z", data: { id: "x", names: ["a.test"] } });
const now = () => Math.floor(Date.now() / 1000);

describe("webhook signatures (Standard Webhooks v1, HMAC-SHA256)", () => {
  it("what we sign, the standardwebhooks library and a node:crypto HMAC both accept", async () => {
    const secret = newWebhookSecret();
    expect(secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
    const headers = await signWebhook(secret, "msg_abc", now(), BODY);
    expect(new Webhook(secret).verify(BODY, { ...headers })).toEqual(JSON.parse(BODY));
    const key = Buffer.from(secret.slice("whsec_".length), "base64");
    const expected = createHmac("sha256", key).update(`msg_abc.${headers["webhook-timestamp"]}.${BODY}`).digest("base64");
    expect(headers["webhook-signature"]).toBe(`v1,${expected}`);
  });

  it("what the standardwebhooks library signs, verifyWebhook accepts; a changed body, id or timestamp it refuses", async () => {
    const secret = newWebhookSecret();
    const ts = new Date();
    const signature = new Webhook(secret).sign("msg_1", ts, BODY);
    const headers = { "webhook-id": "msg_1", "webhook-timestamp": String(Math.floor(ts.getTime() / 1000)), "webhook-signature": signature };
    expect(await verifyWebhook(secret, headers, BODY)).toEqual(JSON.parse(BODY));
    expect(await verifyWebhook(secret, new Headers(headers), BODY)).toEqual(JSON.parse(BODY));
    const refusals = [
      () => verifyWebhook(secret, headers, BODY.replace("a.test", "b.test")),
      () => verifyWebhook(secret, { ...headers, "webhook-id": "msg_2" }, BODY),
      () => verifyWebhook(secret, { ...headers, "webhook-timestamp": String(Number(headers["webhook-timestamp"]) + 1) }, BODY),
      () => verifyWebhook(newWebhookSecret(), headers, BODY),
      () => verifyWebhook(secret, { ...headers, "webhook-signature": "v1a,AAAA v2,xyz" }, BODY),
      () => verifyWebhook(secret, { "webhook-id": "msg_1" }, BODY),
    ];
    for (const r of refusals) await expect(r()).rejects.toSatisfy((e) => isEdgecertError(e, "invalid_signature"));
  });

  it("refuses a replay outside the tolerance, either way; accepts any one signature of a rotation", async () => {
    const [old, current] = [newWebhookSecret(), newWebhookSecret()];
    const stale = await signWebhook(current, "msg_r", now() - 301, BODY);
    await expect(verifyWebhook(current, { ...stale }, BODY)).rejects.toSatisfy((e) => isEdgecertError(e, "invalid_signature"));
    const future = await signWebhook(current, "msg_r", now() + 301, BODY);
    await expect(verifyWebhook(current, { ...future }, BODY)).rejects.toSatisfy((e) => isEdgecertError(e, "invalid_signature"));
    expect(await verifyWebhook(current, { ...stale }, BODY, { toleranceSeconds: 600 })).toBeTruthy();
    const both = await signWebhook([current, old], "msg_r", now(), BODY);
    expect(both["webhook-signature"].split(" ")).toHaveLength(2);
    expect(await verifyWebhook(old, { ...both }, BODY)).toBeTruthy();
    expect(new Webhook(old).verify(BODY, { ...both })).toBeTruthy();
  });

  it("bad secrets and ids are typed errors, not crashes", async () => {
    await expect(signWebhook("whsec_c2hvcnQ=", "msg_1", now(), BODY)).rejects.toSatisfy((e) => isEdgecertError(e, "invalid_input"));
    await expect(signWebhook("whsec_!!!", "msg_1", now(), BODY)).rejects.toSatisfy((e) => isEdgecertError(e, "invalid_input"));
    await expect(signWebhook(newWebhookSecret(), "msg.1", now(), BODY)).rejects.toSatisfy((e) => isEdgecertError(e, "invalid_input"));
  });
});
