-- The request the gateway forwards for form.lua's trigger (contract §5),
-- sent straight to plain reverse_proxy: the JSON body with the caller's
-- token (no upstream_token is configured), the ref and the variables in
-- sorted order, and the three X-Trigger-* headers. Against (a), it costs
-- what the contract makes every forwarded request carry, without the
-- gateway; against it, (b) costs the gateway's own work.
wrk.method = "POST"
local token = os.getenv("TOKEN")
wrk.headers["Content-Type"] = "application/json"
wrk.headers["X-Trigger-Source"] = "trigger"
-- TOKEN is the first token of the bench storage, which gentokens creates
-- as trigger 1; its prefix is "glptt-" and four hex digits.
wrk.headers["X-Trigger-Id"] = "1"
wrk.headers["X-Trigger-Token-Prefix"] = string.sub(token, 1, 10)
wrk.body = '{"token":"' .. token .. '","ref":"main","variables":{"DEPLOY":"staging","UPLOAD_TO_S3":"true"}}'

