-- A trigger as a urlencoded form (curl --data, and most clients' form encoding):
-- the token (from $TOKEN), the ref and two variables.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.body = "token=" .. os.getenv("TOKEN") .. "&ref=main&variables[UPLOAD_TO_S3]=true&variables[DEPLOY]=staging"

-- PACE_MS, when set, makes each connection wait that long after every
-- response before its next request: a steady load below saturation, at
-- which latencies compare the work each request costs rather than the
-- queue a saturated machine builds up.
local pace = tonumber(os.getenv("PACE_MS") or "")
if pace then
	function delay()
		return pace
	end
end
