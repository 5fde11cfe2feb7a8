-- A trigger as GitLab's documentation sends it: a urlencoded form with the
-- token (from $TOKEN), the ref and two variables.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.body = "token=" .. os.getenv("TOKEN") .. "&ref=main&variables[UPLOAD_TO_S3]=true&variables[DEPLOY]=staging"
