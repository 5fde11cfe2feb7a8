package caddymodule

import (
	"net/http"
	"strings"

	"github.com/triggergate/caddy-trigger-gateway/triggerui"
)

// adminUIBase is where the Triggers page lives on Caddy's admin endpoint.
const adminUIBase = adminEndpointBase + "ui/"

// adminUIGatewayURL stands for the gateway's address in the snippets of
// the admin endpoint's page, which is not served by the gateway's site and
// cannot tell its address: the shell and GitLab CI expand it as a variable.
const adminUIGatewayURL = "$GATEWAY_URL"

// handleUI serves the Triggers page on the admin endpoint. Whoever reaches
// the admin endpoint may already create and revoke triggers through the
// admin API, so the page lets them too.
func (a *adminAPI) handleUI(w http.ResponseWriter, r *http.Request) error {
	page := triggerui.Page{
		Backend:    pageBackend{log: a.logger()},
		Mount:      "admin",
		GatewayURL: adminUIGatewayURL,
		Logger:     a.logger(),
	}
	page.Serve(w, r, strings.TrimPrefix(r.URL.Path, adminUIBase), triggerui.Viewer{CanManage: true})
	return nil
}
