// Package triggergateway plugs the trigger gateway into Caddy. Build it in
// with xcaddy:
//
//	xcaddy build --with github.com/triggergate/caddy-trigger-gateway
//
// It registers the http.handlers.trigger_gateway handler, the
// http.matchers.trigger matcher, the admin.api.trigger_gateway admin API and
// the `caddy trigger` command.
package triggergateway

import (
	_ "github.com/triggergate/caddy-trigger-gateway/caddymodule" // handler, admin API, CLI, metrics
	_ "github.com/triggergate/caddy-trigger-gateway/matcher"     // the trigger request matcher
	_ "github.com/triggergate/caddy-trigger-gateway/upstream"    // the upstream modules: gitlab, jenkins, github_actions, ...
)
