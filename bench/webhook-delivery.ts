// Webhook delivery latency from the Worker in workerd (Miniflare) to a receiver on 127.0.0.1: from
// the moment an event is published to the receipt of the attempt that succeeds, after k failed
// attempts (HTTP 500, or a hang until the timeout), and for a live endpoint while another hangs.
// The retry schedule is shortened (1s,2s,4s; timeout 3 s) so the waits are known; the overhead is
// what is left after subtracting them.
import type { PebbleInstance } from "../test/support/pebble.ts";
import { startWebhookReceiver, type ReceiverReply } from "../test/support/webhook-receiver.ts";
import { startWorker } from "../test/support/worker.ts";
import { median } from "./measure.ts";

const WAITS_MS = [1000, 2000, 4000];
const TIMEOUT_S = 3;

/** One scenario's figures. */
export interface WebhookBenchRow {
  scenario: string;
  runs: number;
  /** Median ms from publish to the receipt of the delivered attempt. */
  latencyMs: number;
  /** What the schedule alone waits (ms): the sum of the waits before the delivered attempt, plus timeouts. */
  scheduledMs: number;
  /** Median attempts the receiver saw per event. */
  attempts: number;
}

/** Runs the scenarios against a Worker on `pebble`'s http-01 port. */
export async function webhookBench(pebble: PebbleInstance, runs: number): Promise<WebhookBenchRow[]> {
  const receiver = await startWebhookReceiver();
  const worker = await startWorker(pebble, { vars: { WEBHOOK_RETRY_SCHEDULE: WAITS_MS.map((w) => `${w / 1000}s`).join(","), WEBHOOK_TIMEOUT_SECONDS: String(TIMEOUT_S), WEBHOOK_ALLOW_PRIVATE_URLS: "true" } });
  const rows: WebhookBenchRow[] = [];
  let serial = 0;
  const endpoint = async (path: string): Promise<string> => {
    const res = await worker.admin("/admin/webhooks", { method: "POST", body: JSON.stringify({ url: receiver.origin + path }) });
    return ((await res.json()) as { id: string }).id;
  };
  const deliverOnce = async (path: string, id: string, replies: ReceiverReply[]): Promise<{ ms: number; attempts: number }> => {
    receiver.script(path, [...replies, 200]);
    const before = receiver.requests.length;
    const t0 = Date.now();
    const res = await worker.admin(`/admin/webhooks/${id}/test`, { method: "POST", body: "{}" });
    const { messageId } = (await res.json()) as { messageId: string };
    const all = await receiver.waitFor((rs) => rs.slice(before).some((r) => r.headers["webhook-id"] === messageId && r.reply === 200), `delivery of ${messageId}`, 60_000);
    const mine = all.slice(before).filter((r) => r.headers["webhook-id"] === messageId);
    return { ms: mine[mine.length - 1]!.receivedAt - t0, attempts: mine.length };
  };
  try {
    const scenarios: Array<{ scenario: string; replies: ReceiverReply[]; scheduledMs: number; runs: number }> = [
      { scenario: "first attempt succeeds", replies: [], scheduledMs: 0, runs: Math.max(runs, 5) },
      { scenario: "after 1 × 500", replies: [500], scheduledMs: WAITS_MS[0]!, runs },
      { scenario: "after 2 × 500", replies: [500, 500], scheduledMs: WAITS_MS[0]! + WAITS_MS[1]!, runs },
      { scenario: "after 3 × 500", replies: [500, 500, 500], scheduledMs: WAITS_MS[0]! + WAITS_MS[1]! + WAITS_MS[2]!, runs: Math.min(runs, 3) },
      { scenario: `after 1 timeout (${TIMEOUT_S} s)`, replies: ["hang"], scheduledMs: TIMEOUT_S * 1000 + WAITS_MS[0]!, runs: Math.min(runs, 3) },
    ];
    for (const s of scenarios) {
      const path = `/s${serial++}`;
      const id = await endpoint(path);
      const got: Array<{ ms: number; attempts: number }> = [];
      for (let i = 0; i < s.runs; i++) got.push(await deliverOnce(path, id, s.replies));
      rows.push({ scenario: s.scenario, runs: s.runs, latencyMs: median(got.map((g) => g.ms)), scheduledMs: s.scheduledMs, attempts: median(got.map((g) => g.attempts)) });
    }
    // A live endpoint while another endpoint holds every attempt open until its timeout.
    const deadPath = `/dead${serial++}`;
    const dead = await endpoint(deadPath);
    receiver.script(deadPath, ["hang"]);
    const livePath = `/live${serial++}`;
    const live = await endpoint(livePath);
    const got: number[] = [];
    for (let i = 0; i < Math.max(runs, 5); i++) {
      await worker.admin(`/admin/webhooks/${dead}/test`, { method: "POST", body: "{}" });
      got.push((await deliverOnce(livePath, live, [])).ms);
    }
    rows.push({ scenario: "live endpoint while another hangs", runs: got.length, latencyMs: median(got), scheduledMs: 0, attempts: 1 });
  } finally {
    await worker.stop();
    await receiver.close();
  }
  return rows;
}
