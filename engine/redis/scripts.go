package redis

import goredis "github.com/redis/go-redis/v9"

// luaTrimTTL drops events older than the cutoff (ms) from the front of history h. Event
// times never decrease along seq (they come from the script's TIME), so a binary search over
// ranks finds the first event to keep in O(log n) commands.
const luaTrimTTL = `
local function evms(mem)
  local _, _, ns = string.find(mem, '^%S+ %S+ (%d+)')
  return tonumber(string.sub(ns, 1, -7))
end
local function trimttl(h, cutoff)
  local c = redis.call('ZCARD', h)
  if c == 0 then return end
  if evms(redis.call('ZRANGE', h, 0, 0)[1]) >= cutoff then return end
  local lo, hi = 1, c
  while lo < hi do
    local mid = math.floor((lo + hi) / 2)
    if evms(redis.call('ZRANGE', h, mid, mid)[1]) >= cutoff then hi = mid else lo = mid + 1 end
  end
  redis.call('ZREMRANGEBYRANK', h, 0, lo - 1)
end
local t = redis.call('TIME')
local nowms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
`

// publishScript appends a batch of messages of one topic, atomically with their PUBLISH.
//
// KEYS: meta, hist, dedup. ARGV: candidate epoch, size, ttl ms (0: none), dedup window,
// channel, n, then n × (name, data, final "0"|"1", sent ns, dedup key).
// Returns {epoch, results}: per message {"ok", seq, time ns, receivers of the PUBLISH},
// {"dup", seq, stored event or
// false}, or {"closed"} (which ends the batch).
var publishScript = goredis.NewScript(luaTrimTTL + `
local m, h, d = KEYS[1], KEYS[2], KEYS[3]
local size, ttl, window = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local channel, n = ARGV[5], tonumber(ARGV[6])
local nowns = t[1] .. string.format('%06d', tonumber(t[2])) .. '000'
local meta = redis.call('HMGET', m, 'epoch', 'last', 'closed')
local epoch, last, closed = meta[1], tonumber(meta[2]) or 0, meta[3] == '1'
if not epoch then
  epoch, last, closed = ARGV[1], 0, false
  redis.call('DEL', h, d)
  redis.call('HSET', m, 'epoch', epoch)
end
local out = {}
for i = 0, n - 1 do
  local b = 7 + i * 5
  local name, data, final, sent, dk = ARGV[b], ARGV[b + 1], ARGV[b + 2], ARGV[b + 3], ARGV[b + 4]
  local dup = false
  if dk ~= '' then dup = redis.call('ZSCORE', d, dk) end
  if dup then
    local s = tonumber(dup)
    local ev = redis.call('ZRANGE', h, s, s, 'BYSCORE')[1] or false
    out[#out + 1] = {'dup', s, ev}
  elseif closed then
    out[#out + 1] = {'closed'}
    break
  else
    last = last + 1
    local seq = string.format('%d', last)
    local ev = epoch .. ' ' .. seq .. ' ' .. nowns .. ' ' .. sent .. ' ' .. final .. ' ' .. #name .. '\n' .. name .. data
    redis.call('ZADD', h, last, ev)
    if dk ~= '' then redis.call('ZADD', d, last, dk) end
    if final == '1' then closed = true end
    local heard = redis.call('PUBLISH', channel, ev)
    out[#out + 1] = {'ok', last, nowns, heard}
  end
end
redis.call('HSET', m, 'last', string.format('%d', last), 'closed', closed and '1' or '0')
local c = redis.call('ZCARD', h)
if c > size then redis.call('ZREMRANGEBYRANK', h, 0, c - size - 1) end
if ttl > 0 then
  trimttl(h, nowms - ttl)
  redis.call('PEXPIRE', m, ttl)
  redis.call('PEXPIRE', h, ttl)
  redis.call('PEXPIRE', d, ttl)
end
if last > window then redis.call('ZREMRANGEBYSCORE', d, '-inf', '(' .. string.format('%d', last - window)) end
return {epoch, out}
`)

// historyScript reads a topic's state and events after a seq, dropping expired events first.
//
// KEYS: meta, hist. ARGV: after, limit (0: none), ttl ms (0: none).
// Returns {epoch or false, last, closed, first seq (0: none), events}.
var historyScript = goredis.NewScript(luaTrimTTL + `
local m, h = KEYS[1], KEYS[2]
local ttl = tonumber(ARGV[3])
if ttl > 0 then trimttl(h, nowms - ttl) end
local meta = redis.call('HMGET', m, 'epoch', 'last', 'closed')
local first = redis.call('ZRANGE', h, 0, 0, 'WITHSCORES')
local evs = {}
if tonumber(ARGV[2]) > 0 then
  evs = redis.call('ZRANGE', h, '(' .. ARGV[1], '+inf', 'BYSCORE', 'LIMIT', 0, tonumber(ARGV[2]))
end
return {meta[1] or false, tonumber(meta[2]) or 0, meta[3] == '1' and 1 or 0, tonumber(first[2]) or 0, evs}
`)

// renewScript extends the bridge leader lease when this node still holds it.
// KEYS: lease. ARGV: node id, ttl ms. Returns 1 when renewed.
var renewScript = goredis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
`)

// releaseScript deletes the lease when this node holds it. KEYS: lease. ARGV: node id.
var releaseScript = goredis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`)
