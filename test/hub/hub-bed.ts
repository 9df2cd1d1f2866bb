/** Helpers for the hub tests: certificates added through the admin API, deploy tokens, pulls. */
import { expect } from "vitest";
import type { WorkerInstance } from "../support/worker.ts";

/** Adds a certificate through the admin API and waits (bounded) until Pebble issued it. */
export async function addCertificate(worker: WorkerInstance, names: string[]): Promise<{ id: string }> {
  const res = await worker.admin("/admin/certificates", { method: "POST", body: JSON.stringify({ names }) });
  expect(res.status).toBe(202);
  const { id } = (await res.json()) as { id: string };
  for (let i = 0; i < 300; i++) {
    const body = (await (await worker.admin(`/admin/certificates/${id}`)).json()) as { status: string; lastError: string | null };
    if (body.status === "valid") return { id };
    if (body.status !== "pending") throw new Error(`certificate ${id} is ${body.status}: ${body.lastError}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`certificate ${id} still pending`);
}

/** Creates a deploy token; returns its id and the token (shown once). */
export async function createToken(worker: WorkerInstance, body: Record<string, unknown>): Promise<{ id: string; token: string }> {
  const res = await worker.admin("/admin/tokens", { method: "POST", body: JSON.stringify(body) });
  expect(res.status, await res.clone().text()).toBe(201);
  return (await res.json()) as { id: string; token: string };
}

/** GET /v1/certificates/<name> with a deploy token. */
export function pull(worker: WorkerInstance, name: string, token: string, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(new URL(`/v1/certificates/${name}`, worker.url), { headers: { authorization: `Bearer ${token}`, ...headers } });
}
