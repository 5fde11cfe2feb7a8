-- A trigger as GitLab's documentation sends it, with curl --form: a
-- multipart/form-data body, framed as curl frames it, with the token (from
-- $TOKEN), the ref and two variables.
local boundary = "------------------------d74496d66958873e"
local fields = {
	{ "token", os.getenv("TOKEN") },
	{ "ref", "main" },
	{ "variables[UPLOAD_TO_S3]", "true" },
	{ "variables[DEPLOY]", "staging" },
}
local parts = {}
for i, f in ipairs(fields) do
	parts[i] = "--" .. boundary .. "\r\nContent-Disposition: form-data; name=\"" .. f[1] .. "\"\r\n\r\n" .. f[2] .. "\r\n"
end
wrk.method = "POST"
wrk.headers["Content-Type"] = "multipart/form-data; boundary=" .. boundary
wrk.body = table.concat(parts) .. "--" .. boundary .. "--\r\n"
