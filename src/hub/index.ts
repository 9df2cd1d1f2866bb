/**
 * The fleet hub's shared pieces: what the Worker and `edgecert pull` both need — sealing a private
 * key to one agent's key and opening it again — and the webhook signatures a receiver verifies.
 * @module
 */
export { SEAL_ALG, agentKeyFromPem, generateAgentKey, importAgentPublicKey, openSealed, sealToAgent, type AgentKeyPair, type SealedBox } from "./seal.ts";
export { WEBHOOK_SECRET_PREFIX, WEBHOOK_TOLERANCE_SECONDS, newWebhookSecret, signWebhook, verifyWebhook, type VerifyWebhookOptions, type WebhookHeaders } from "./webhook-signature.ts";
