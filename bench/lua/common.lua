-- Each wrk thread has its own Lua state: setup() numbers the threads so ids never collide.
local counter = 1
function setup(thread)
  thread:set("tid", counter)
  counter = counter + 1
end

package.path = (os.getenv("BENCH_LUA_DIR") or ".") .. "/?.lua;" .. package.path
local report = require("report")
done = report.done
