// Lua scripts RedisStorage runs with EVAL. A script runs to completion before Redis serves any other
// command, so each check and the write it guards are one atomic step on the server. Key expiry inside a
// script is judged by the server's clock at the script's start.

/**
 * Conditional write of one value.
 * KEYS: value hash, key index (sorted set), version counter, lock key of the fence (any key when none).
 * ARGV: storage key, base64 value, version mode ("" | "absent" | "is"), version, fence token ("" when none),
 * the writer's random nonce. The version is `<counter>.<nonce>`: the counter alone comes back after
 * Redis loses data (see version-nonce.ts); the nonce never does.
 */
export const PUT = `
if ARGV[5] ~= '' and redis.call('GET', KEYS[4]) ~= ARGV[5] then return 'lease_lost' end
if ARGV[3] ~= '' then
  local cur = redis.call('HGET', KEYS[1], 'v')
  if ARGV[3] == 'absent' then
    if cur then return 'conflict' end
  elseif cur ~= ARGV[4] then return 'conflict' end
end
local v = redis.call('INCR', KEYS[3]) .. '.' .. ARGV[6]
redis.call('HSET', KEYS[1], 'd', ARGV[2], 'v', v)
redis.call('ZADD', KEYS[2], 0, ARGV[1])
return 'ok'
`;

/** Conditional delete; KEYS and ARGV as {@link PUT} (ARGV[2] unused). */
export const DELETE = `
if ARGV[5] ~= '' and redis.call('GET', KEYS[4]) ~= ARGV[5] then return 'lease_lost' end
local cur = redis.call('HGET', KEYS[1], 'v')
if ARGV[3] == 'absent' then
  if cur then return 'conflict' end
  return 'ok'
elseif ARGV[3] == 'is' and cur ~= ARGV[4] then return 'conflict' end
redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[1])
return 'ok'
`;

/** KEYS: value hash. Reply: [base64 value or nil, version or nil]. */
export const GET = `return redis.call('HMGET', KEYS[1], 'd', 'v')`;

/** KEYS: key index. ARGV: min, max (ZRANGE BYLEX bounds), count. */
export const LIST = `return redis.call('ZRANGE', KEYS[1], ARGV[1], ARGV[2], 'BYLEX', 'LIMIT', 0, ARGV[3])`;

/**
 * Takes a lock if no live lease holds it. KEYS: lock key, fencing counter. ARGV: ttl ms.
 * Reply: {1, token} or {0, ms the holder's lease has left}. The token is at least the server's clock in
 * ms, so tokens keep growing even if the counter is lost (a Redis without persistence, a failover to a
 * replica that lagged): a stale holder can never meet its own token again.
 */
export const LOCK = `
local left = redis.call('PTTL', KEYS[1])
if left ~= -2 then return {0, left} end
local t = redis.call('INCR', KEYS[2])
local now = redis.call('TIME')
local ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
if t < ms then t = ms end
local token = string.format('%d', t)
redis.call('SET', KEYS[2], token)
redis.call('SET', KEYS[1], token, 'PX', ARGV[1])
return {1, token}
`;

/** KEYS: lock key. ARGV: token, ttl ms. Reply 1 when renewed, 0 when the lease is gone. */
export const RENEW = `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
`;

/** KEYS: lock key. ARGV: token. Deletes the lock only when this token still holds it. */
export const RELEASE = `
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 1
`;

/**
 * KEYS: due index (sorted set), lock key of the fence (any key when none). ARGV: id, due ms ("" to
 * remove), fence token ("" when none), "lt" to only move the entry earlier (ZADD LT still adds a new one).
 * Reply: 'ok' or 'lease_lost'.
 */
export const SET_DUE = `
if ARGV[3] ~= '' and redis.call('GET', KEYS[2]) ~= ARGV[3] then return 'lease_lost' end
if ARGV[2] == '' then redis.call('ZREM', KEYS[1], ARGV[1])
elseif ARGV[4] == 'lt' then redis.call('ZADD', KEYS[1], 'LT', ARGV[2], ARGV[1])
else redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1]) end
return 'ok'
`;

/** KEYS: due index. ARGV: until ms, count. Reply: flat [id, score, id, score, ...], earliest first. */
export const DUE = `return redis.call('ZRANGE', KEYS[1], '-inf', ARGV[1], 'BYSCORE', 'LIMIT', 0, ARGV[2], 'WITHSCORES')`;
