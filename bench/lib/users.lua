-- wrk script: each request carries X-User-ID drawn uniformly from BENCH_USERS
-- ids ("user-0" … "user-99999" by default); done() prints one JSON line with
-- throughput and latency percentiles (microseconds) for bench/run to parse.
local users = tonumber(os.getenv("BENCH_USERS") or "100000")
local path = os.getenv("BENCH_PATH") or "/"
local close = os.getenv("BENCH_CLOSE") == "1"
-- BENCH_UNIQUE=1: every request a user never seen before (cold caches).
local unique = os.getenv("BENCH_UNIQUE") == "1"
local prefix = ""
local counter = 0
-- Every request wrk can send, formatted once: a Lua table look-up per request
-- instead of a wrk.format call, so that the load generator, which shares its
-- core with the upstream, is not the first thing to run out of CPU.
local reqs = {}

local function format(id)
  local headers = { ["X-User-ID"] = id }
  if close then headers["Connection"] = "close" end
  return wrk.format("GET", path, headers)
end

init = function(args)
  math.randomseed(os.time() + (tonumber(tostring({}):sub(8), 16) or 0))
  prefix = "cold-" .. math.random(0, 2147483647) .. "-"
  if not unique then
    for i = 0, users - 1 do
      reqs[i + 1] = format("user-" .. i)
    end
  end
end

request = function()
  if unique then
    counter = counter + 1
    return format(prefix .. counter)
  end
  return reqs[math.random(users)]
end

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{"requests":%d,"duration_us":%d,"bytes":%d,"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
    '"p50_us":%d,"p90_us":%d,"p99_us":%d,"p999_us":%d,"max_us":%d,"mean_us":%.1f}\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency:percentile(99.9),
    latency.max, latency.mean))
end
