-- wrk script for tests/bench-intake.sh: POST /webhook with one fixed body and signature and a
-- delivery id of its own on every request, as GitHub sends them.
--
--   wrk -t2 -c64 -d15s -s webhook.lua http://127.0.0.1:PORT -- BODY_FILE SIGNATURE EVENT ID_PREFIX
--
-- SIGNATURE is the whole X-Hub-Signature-256 value ("sha256=<hex>"), right or wrong. The
-- delivery id is ID_PREFIX-<thread>-<counter>, so no two requests of a run share one (a
-- duplicate would be dropped by keyroll instead of stored). At the end it prints one line
-- "status <code> <count>" per status seen across all threads, and one "summary ..." line, for
-- the script to read besides wrk's own report.

local threads = {}

function setup(thread)
  table.insert(threads, thread)
  thread:set("thread_no", #threads)
end

function init(args)
  local file = assert(io.open(args[1], "rb"))
  body = file:read("*a")
  file:close()
  signature = args[2]
  event = args[3]
  prefix = args[4]
  counter = 0
  statuses = {}
  headers = {
    ["Content-Type"] = "application/json",
    ["User-Agent"] = "GitHub-Hookshot/bench",
    ["X-GitHub-Event"] = event,
    ["X-Hub-Signature-256"] = signature,
  }
end

function request()
  counter = counter + 1
  headers["X-GitHub-Delivery"] = prefix .. "-" .. thread_no .. "-" .. counter
  return wrk.format("POST", "/webhook", headers, body)
end

function response(status, _, _)
  statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, _)
  local total = {}
  for _, thread in ipairs(threads) do
    local seen = thread:get("statuses")
    for code, n in pairs(seen) do
      total[code] = (total[code] or 0) + n
    end
  end
  for code, n in pairs(total) do
    io.write(string.format("status %d %d\n", code, n))
  end
  local e = summary.errors
  io.write(string.format(
    "summary requests=%d duration_us=%d connect=%d read=%d write=%d timeout=%d non2xx=%d p50_us=%d p99_us=%d max_us=%d\n",
    summary.requests, summary.duration, e.connect, e.read, e.write, e.timeout, e.status,
    latency:percentile(50), latency:percentile(99), latency.max))
end
