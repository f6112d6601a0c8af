-- bench/wrk-keys.lua - wrk requests carrying a key drawn uniformly from a
-- file, one key a line (a skewed mix is a file of skewed draws, see
-- bench/seed).
--
--   wrk -s bench/wrk-keys.lua URL -- KEYFILE [HEADER [PREFIX]]
--
-- HEADER defaults to Authorization and PREFIX to "Bearer " (PREFIX "-" is
-- none: the file holds whole values, as "Basic ..." for mod_authn_dbm).
-- done() prints one line of key=value pairs for bench/run.

local threads = {}
local counter = 0

function setup(thread)
   counter = counter + 1
   thread:set("id", counter)
   table.insert(threads, thread)
end

function init(args)
   local file = args[1]
   header = args[2] or "Authorization"
   prefix = args[3] or "Bearer "
   if prefix == "-" then prefix = "" end
   keys = {}
   for line in io.lines(file) do
      if #line > 0 then keys[#keys + 1] = prefix .. line end
   end
   nkeys = #keys
   math.randomseed(os.time() * 1000 + (id or 0) * 7919)
   path = wrk.path
   hdrs = {}
   for k, v in pairs(wrk.headers) do hdrs[k] = v end
   hdrs["User-Agent"] = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
   hdrs["Accept"] = "application/json, text/plain, */*"
   hdrs["Accept-Language"] = "en-US,en;q=0.5"
end

function request()
   hdrs[header] = keys[math.random(nkeys)]
   return wrk.format("GET", path, hdrs)
end

function done(summary, latency, requests)
   local e = summary.errors
   io.write(string.format(
      "WRK requests=%d secs=%.3f rps=%.1f mean_us=%.2f p50_us=%.2f p90_us=%.2f p99_us=%.2f " ..
      "p999_us=%.2f max_us=%.2f non2xx=%d connect_errors=%d read_errors=%d " ..
      "write_errors=%d timeouts=%d\n",
      summary.requests, summary.duration / 1e6,
      summary.requests / (summary.duration / 1e6), latency.mean,
      latency:percentile(50), latency:percentile(90), latency:percentile(99),
      latency:percentile(99.9), latency.max, e.status, e.connect, e.read,
      e.write, e.timeout))
end
