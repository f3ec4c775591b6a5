-- GET a permission for a random subject among the BENCH_SUBJECTS seeded ones (bench-0000000 …).
dofile((os.getenv("BENCH_LUA_DIR") or ".") .. "/common.lua")
local subjects = tonumber(os.getenv("BENCH_SUBJECTS") or "10000")
local purpose = os.getenv("BENCH_PURPOSE") or "marketing_email"

wrk.method = "GET"
wrk.headers["Authorization"] = "Bearer dev-system"

function init(args)
  math.randomseed(os.time() * 100 + tid)
end

function request()
  local i = math.random(0, subjects - 1)
  return wrk.format(nil, string.format("/v1/subjects/bench-%07d/permissions/%s", i, purpose))
end
