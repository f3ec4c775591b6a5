-- Each wrk thread has its own Lua state: setup() numbers the threads, and gives them the run's
-- nonce, so that ids never collide, neither between threads nor between wrk runs (a warm-up and
-- the run after it, or alternating rounds, each start counting at 1 again).
local function random_hex(bytes)
  local f = assert(io.open("/dev/urandom", "rb"))
  local raw = f:read(bytes)
  f:close()
  return (raw:gsub(".", function(c) return string.format("%02x", c:byte()) end))
end

local nonce = random_hex(6)
local counter = 1
function setup(thread)
  thread:set("tid", counter)
  thread:set("nonce", nonce)
  counter = counter + 1
end

package.path = (os.getenv("BENCH_LUA_DIR") or ".") .. "/?.lua;" .. package.path
local report = require("report")
done = report.done
