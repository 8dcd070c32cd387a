//! The Lua script that saves a version: compare-and-set, write, history
//! push and trim, and PUBLISH, as one atomic step inside Redis.
//!
//! KEYS: head, docs, meta, log. ARGV: expected version, document, audit
//! record (JSON), versions to keep, channel.
//! Returns `{1, new_version}` on success, `{0, current_version}` on conflict.

pub(super) const SAVE: &str = r"
local cur = tonumber(redis.call('HGET', KEYS[1], 'version') or '0')
if cur ~= tonumber(ARGV[1]) then
  return {0, cur}
end
local n = cur + 1
redis.call('HSET', KEYS[1], 'version', n, 'doc', ARGV[2], 'meta', ARGV[3])
redis.call('HSET', KEYS[2], n, ARGV[2])
redis.call('HSET', KEYS[3], n, ARGV[3])
redis.call('LPUSH', KEYS[4], n)
local keep = tonumber(ARGV[4])
local old = redis.call('LRANGE', KEYS[4], keep, -1)
for _, v in ipairs(old) do
  redis.call('HDEL', KEYS[2], v)
  redis.call('HDEL', KEYS[3], v)
end
redis.call('LTRIM', KEYS[4], 0, keep - 1)
redis.call('PUBLISH', ARGV[5], n)
return {1, n}
";
