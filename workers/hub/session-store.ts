/**
 * Dashboard sessions as records in the Worker's strongly consistent storage, so signing out ends a
 * session everywhere at once: the signed cookie (./session.ts) proves who made it, this record says it
 * is still open. A cookie copied before sign-out opens nothing afterwards.
 * @module
 */
import type { Storage } from "../../src/storage/storage.ts";

const PREFIX = "dashboard/sessions/";
/** Expired records swept per sign-in: the sweep stays bounded whatever piled up. */
const SWEEP_LIMIT = 50;

/** Open dashboard sessions, by the nonce their cookie carries. */
export class SessionStore {
  constructor(private readonly storage: Storage) {}

  /** Records a new session until `expiresAt`, and sweeps a few expired ones. */
  async open(nonce: string, expiresAt: number, now: number): Promise<void> {
    await this.storage.put(PREFIX + nonce, String(expiresAt), { ifVersion: null });
    const page = await this.storage.list(PREFIX, { limit: SWEEP_LIMIT });
    for (const key of page.keys) {
      const raw = await this.storage.get(key);
      if (raw && Number(new TextDecoder().decode(raw)) <= now) await this.storage.delete(key);
    }
  }

  /** Whether the session with this nonce is open (recorded, not ended, not expired). */
  async isOpen(nonce: string, now: number): Promise<boolean> {
    const raw = await this.storage.get(PREFIX + nonce);
    return raw !== undefined && Number(new TextDecoder().decode(raw)) > now;
  }

  /** Ends a session: its cookie opens nothing from now on. */
  async end(nonce: string): Promise<void> {
    await this.storage.delete(PREFIX + nonce);
  }
}
