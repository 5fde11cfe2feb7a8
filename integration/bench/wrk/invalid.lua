-- A new, well-formed but unknown trigger token on every request, so that
-- no negative cache entry answers for it.
local hex = "0123456789abcdef"

function init(args)
	math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16))
end

function request()
	local t = {}
	for i = 1, 40 do
		local k = math.random(16)
		t[i] = hex:sub(k, k)
	end
	return wrk.format("POST", nil, { ["Content-Type"] = "application/x-www-form-urlencoded" },
		"token=glptt-" .. table.concat(t) .. "&ref=main&variables[UPLOAD_TO_S3]=true&variables[DEPLOY]=staging")
end
