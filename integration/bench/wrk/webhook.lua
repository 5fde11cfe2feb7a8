-- The webhook form: the ref and token in the URL, a GitLab push event of
-- about 20 KB (20 commits) as the body.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["X-Gitlab-Event"] = "Push Hook"
wrk.path = wrk.path .. "?token=" .. os.getenv("TOKEN")

local commits = {}
for i = 1, 20 do
	commits[i] = string.format(
		'{"id":"%040x","message":"Commit %d: %s","timestamp":"2026-12-01T10:00:00+00:00",' ..
		'"url":"https://gitlab.example.com/group/project/-/commit/%040x",' ..
		'"author":{"name":"Jane Doe","email":"jane@example.com"},' ..
		'"added":["docs/page-%d.md"],"modified":["src/main.go","src/handler.go","README.md"],"removed":[]}',
		i, i, string.rep("a change that explains itself. ", 22), i, i)
end
wrk.body = '{"object_kind":"push","event_name":"push","before":"' .. string.rep("0", 40) ..
	'","after":"' .. string.rep("1", 40) .. '","ref":"refs/heads/main","checkout_sha":"' .. string.rep("1", 40) ..
	'","user_id":4,"user_name":"Jane Doe","user_username":"jane","project_id":15,' ..
	'"project":{"id":15,"name":"project","path_with_namespace":"group/project","default_branch":"main"},' ..
	'"commits":[' .. table.concat(commits, ",") .. '],"total_commits_count":20,' ..
	'"repository":{"name":"project","url":"git@gitlab.example.com:group/project.git"}}'
