-- POST a new consent event per request: a fresh CloudEvent id and subject every time (the run's
-- nonce, the thread and a counter), so every request records a ledger row (a replay would be
-- answered without writing anything).
dofile((os.getenv("BENCH_LUA_DIR") or ".") .. "/common.lua")
local run = os.getenv("BENCH_RUN") or "run"
local n = 0

wrk.method = "POST"
wrk.headers["Authorization"] = "Bearer dev-system"
wrk.headers["Content-Type"] = "application/json"

local template = '{"specversion": "1.0", "id": "http-%s-%s-%d-%d", "source": "clinic/website", ' ..
  '"type": "consent.granted", "subject": "http-%s-%s-%d-%d", "datacontenttype": "application/json", ' ..
  '"data": {"subject_id": "http-%s-%s-%d-%d", "subject_birth_date": "1990-04-01", ' ..
  '"purpose": "marketing_email", "policy_id": "privacy-notice", "policy_version": "1", ' ..
  '"language": "ko", "method": "web", "actor": {"role": "self"}, ' ..
  '"evidence": {"form_id": "signup-v3", "ip": "203.0.113.7"}}}'

function request()
  n = n + 1
  local body = string.format(template, run, nonce, tid, n, run, nonce, tid, n, run, nonce, tid, n)
  return wrk.format(nil, nil, nil, body)
end
