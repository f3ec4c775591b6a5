-- GET the same path (the ceiling, or a fixed read) with the bearer key.
dofile((os.getenv("BENCH_LUA_DIR") or ".") .. "/common.lua")
wrk.method = "GET"
wrk.headers["Authorization"] = "Bearer " .. (os.getenv("BENCH_API_KEY") or "dev-system")
