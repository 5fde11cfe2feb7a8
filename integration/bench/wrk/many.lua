-- Valid tokens picked at random from $TOKENS_FILE (one a line): with more
-- tokens than the gateway's cache holds, most requests are cache misses.
local tokens = {}

function init(args)
	for line in io.lines(os.getenv("TOKENS_FILE")) do
		tokens[#tokens + 1] = line
	end
	math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16))
end

function request()
	local token = tokens[math.random(#tokens)]
	return wrk.format("POST", nil, { ["Content-Type"] = "application/x-www-form-urlencoded" },
		"token=" .. token .. "&ref=main&variables[UPLOAD_TO_S3]=true&variables[DEPLOY]=staging")
end
