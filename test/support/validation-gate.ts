/**
 * Holds the CA's http-01 validation requests at the responder, so a test decides when a validation
 * the client started ends — not the machine's speed. While closed, every validation request waits; the
 * answer is read from the token store only once the gate opens, so it is what the store holds then.
 * Pebble gives up on a validation request after 15 s (its `validationTimeout`) and marks the
 * authorization invalid: a test holding one that long sees {@link ValidationGate.abandoned} grow and
 * must treat that run as inconclusive, not as the client's doing.
 * @module
 */

/** The gate a test's http-01 responder awaits before reading a token (see the module comment). */
export class ValidationGate {
  #open = true;
  #waiting: Array<() => void> = [];

  /** Requests held now. */
  get held(): number {
    return this.#waiting.length;
  }

  /** Whether validation requests wait. */
  get closed(): boolean {
    return !this.#open;
  }

  /** From now on, validation requests wait until {@link open}. */
  close(): void {
    this.#open = false;
  }

  /** Lets the held requests go on (each reads the store now) and every later one through. */
  open(): void {
    this.#open = true;
    for (const go of this.#waiting.splice(0)) go();
  }

  /** Awaited by the responder before it reads the store. */
  pass(): Promise<void> {
    return this.#open ? Promise.resolve() : new Promise<void>((resolve) => this.#waiting.push(resolve));
  }
}
