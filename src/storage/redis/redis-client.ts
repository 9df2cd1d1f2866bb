/**
 * The one thing {@link RedisStorage} needs from a Redis client: run a Lua script with `EVAL`. Every
 * operation is one script, so every check and write it makes is atomic on the server (Redis runs a
 * script to completion before any other command). Adapters below fit the common clients without
 * edgecert depending on any of them.
 */
export interface RedisScriptClient {
  /**
   * Runs `EVAL script numkeys ...keys ...args`. Resolves with the script's reply as the client decodes it
   * (bulk strings as strings, integers as numbers, arrays as arrays, nil as null).
   */
  eval(script: string, keys: string[], args: string[]): Promise<unknown>;
}

/** The part of a node-redis (`redis` / `@redis/client` ≥ 4) client used: `client.eval(script, { keys, arguments })`. */
export interface NodeRedisLike {
  /** node-redis' `eval`. */
  eval(script: string, options: { keys: string[]; arguments: string[] }): Promise<unknown>;
}

/** The part of an ioredis client used: `redis.eval(script, numKeys, ...keysAndArgs)`. */
export interface IoredisLike {
  /** ioredis' `eval`. */
  eval(script: string, numKeys: number, ...keysAndArgs: string[]): Promise<unknown>;
}

/** The part of Bun's built-in `RedisClient` (`import { RedisClient } from "bun"`) used: `client.send(command, args)`. */
export interface BunRedisLike {
  /** Bun's `RedisClient.send`. */
  send(command: string, args: string[]): Promise<unknown>;
}

/** Adapts a connected node-redis client (`createClient(...)`, after `connect()`). */
export function fromNodeRedis(client: NodeRedisLike): RedisScriptClient {
  return { eval: (script, keys, args) => client.eval(script, { keys, arguments: args }) };
}

/** Adapts an ioredis client (`new Redis(...)`). */
export function fromIoredis(client: IoredisLike): RedisScriptClient {
  return { eval: (script, keys, args) => client.eval(script, keys.length, ...keys, ...args) };
}

/** Adapts Bun's built-in client (`new RedisClient(url)`). */
export function fromBunRedis(client: BunRedisLike): RedisScriptClient {
  return { eval: (script, keys, args) => client.send("EVAL", [script, String(keys.length), ...keys, ...args]) };
}
