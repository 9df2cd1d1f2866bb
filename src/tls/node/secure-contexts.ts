/// <reference types="node" />
import { createSecureContext, type SecureContext, type SecureContextOptions } from "node:tls";
import type { ManagedCertificate } from "../../manager/certificate-manager.ts";

/** The certificate fields a secure context is built from. */
export type ServableCertificate = Pick<ManagedCertificate, "id" | "serialNumber" | "chainPem" | "keyPem">;

/**
 * One `tls.SecureContext` per certificate, kept while its serial number stays the same. A renewal
 * brings a new serial, so the next handshake builds a new context and the server picks the renewed
 * certificate up without a restart; the old context is dropped.
 */
export class SecureContextCache {
  readonly #contexts = new Map<string, { serialNumber: string; context: SecureContext }>();

  /**
   * An empty cache.
   * @param options Extra options for every context (`minVersion`, `ciphers`, …); `cert` and `key` are set per certificate.
   */
  constructor(private readonly options: SecureContextOptions = {}) {}

  /** The context serving `certificate`, built once per serial number. */
  contextFor(certificate: ServableCertificate): SecureContext {
    const cached = this.#contexts.get(certificate.id);
    if (cached?.serialNumber === certificate.serialNumber) return cached.context;
    const context = createSecureContext({ ...this.options, cert: certificate.chainPem, key: certificate.keyPem });
    this.#contexts.set(certificate.id, { serialNumber: certificate.serialNumber, context });
    return context;
  }

  /** Number of certificates with a context (one per certificate, whatever the renewals). */
  get size(): number {
    return this.#contexts.size;
  }
}
