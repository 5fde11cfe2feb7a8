package integration

import (
	"context"
	"testing"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
)

// The page's session cookie is scoped to the page's own path as the
// browser addresses it, as docs/triggers-page.md says, also when
// handle_path strips that path before the handler sees the request.
// Before, it was set on "/": the browser sent it with every request to the
// site, the trigger API and the proxied CI server included.
func TestTriggersPageSessionCookieStaysOnThePage(t *testing.T) {
	g := newGateway(t, pageSiteConfig(t))
	b := newBrowser(t)
	alice := b.newTab("alice", pagePassword)
	alice.open(g.base()+"/triggers/", "")
	cookies := value(alice, chromedp.Action[[]*network.Cookie](func(ctx context.Context, _ *chromedp.Target) ([]*network.Cookie, error) {
		res, err := chromedp.Call(ctx, network.GetCookies, network.GetCookiesParams{})
		if err != nil {
			return nil, err
		}
		return res.Cookies, nil
	}))
	if len(cookies) != 1 || cookies[0].Name != "trigger_gateway_session" || cookies[0].Path != "/triggers/" ||
		!cookies[0].HTTPOnly || cookies[0].SameSite != network.CookieSameSiteStrict {
		for _, c := range cookies {
			t.Logf("cookie %s: path %q, HttpOnly %v, SameSite %s", c.Name, c.Path, c.HTTPOnly, c.SameSite)
		}
		t.Errorf("the browser holds %d cookies, want one trigger_gateway_session on /triggers/, HttpOnly and SameSite=Strict", len(cookies))
	}
}
