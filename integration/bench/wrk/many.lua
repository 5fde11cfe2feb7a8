-- Valid tokens picked at random from $TOKENS_FILE (one a line): with more
-- tokens than the gateway's cache holds, most requests are cache misses.
-- Every request is formatted once, in init, so that wrk spends no more per
-- request than with a fixed one: the cases measure Caddy, not wrk's Lua.
local requests = {}

function init(args)
	for token in io.lines(os.getenv("TOKENS_FILE")) do
		requests[#requests + 1] = wrk.format("POST", nil, { ["Content-Type"] = "application/x-www-form-urlencoded" },
			"token=" .. token .. "&ref=main&variables[UPLOAD_TO_S3]=true&variables[DEPLOY]=staging")
	end
	math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16))
end

function request()
	return requests[math.random(#requests)]
end
