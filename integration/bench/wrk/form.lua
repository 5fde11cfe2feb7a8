-- A trigger as a urlencoded form (curl --data, and most clients' form encoding):
-- the token (from $TOKEN), the ref and two variables.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.body = "token=" .. os.getenv("TOKEN") .. "&ref=main&variables[UPLOAD_TO_S3]=true&variables[DEPLOY]=staging"
