/**
 * The fleet hub's shared pieces: what the Worker and `edgecert pull` both need — sealing a private
 * key to one agent's key and opening it again.
 * @module
 */
export { SEAL_ALG, agentKeyFromPem, generateAgentKey, importAgentPublicKey, openSealed, sealToAgent, type AgentKeyPair, type SealedBox } from "./seal.ts";
