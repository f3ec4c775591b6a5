-- POST /v1/requests (public filing) with a different contact each time.
dofile((os.getenv("BENCH_LUA_DIR") or ".") .. "/common.lua")
local n = 0
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"

local template = '{"type": "access", "jurisdiction": "KR", "language": "ko", ' ..
  '"subject": {"name": "김민수", "birth_date": "1985-03-02"}, ' ..
  '"requester": {"relationship": "self", "contact": "bench-%d-%d@example.com"}}'

function request()
  n = n + 1
  return wrk.format(nil, nil, nil, string.format(template, tid, n))
end
