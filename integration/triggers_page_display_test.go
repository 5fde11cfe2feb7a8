package integration

import (
	"context"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
)

// What the Triggers page shows of the less usual triggers.

// inTimeZone makes the tab's clock local to zone (an IANA name).
func inTimeZone(tb *tab, zone string) {
	tb.t.Helper()
	tb.run(chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		_, err := chromedp.Call(ctx, emulation.SetTimezoneOverride, emulation.SetTimezoneOverrideParams{TimezoneID: zone})
		return err
	}))
}

// The date picked in the Add dialog (or given as --expires-at) is the
// date the page shows, wherever its viewer is: 2030-01-31 is midnight UTC,
// which is still 30 January in New York. Before, the page said 1/30/2030
// there for a token its maintainer had set to expire on 31 January.
func TestTriggersPageShowsTheExpiryDateAsChosen(t *testing.T) {
	g := newGateway(t, pageSiteConfig(t))
	g.addTrigger(t, addOpts{Project: "9", Description: "until the end of January", Owner: "alice", ExpiresAt: "2030-01-31"})
	b := newBrowser(t)
	for _, zone := range []string{"America/New_York", "UTC", "Asia/Tokyo"} {
		tb := b.newTab("alice", pagePassword)
		inTimeZone(tb, zone)
		tb.open(g.base()+"/triggers/", "")
		got := eval[[]string](tb, `(() => { const e = document.querySelector('[data-label="Expires"] time');
			return e ? [e.textContent, new Date(Date.UTC(2030, 0, 31)).toLocaleDateString(undefined, {timeZone: "UTC"}), e.title] : []; })()`)
		if len(got) != 3 || got[0] != got[1] {
			t.Errorf("in %s the expiry shows %q, want the date chosen, %q", zone, got, got[1:2])
		}
	}
}

// Revoked tokens are listed apart, with when and by whom they were
// revoked, as docs/triggers-page.md says.
func TestTriggersPageListsWhoRevoked(t *testing.T) {
	g := newGateway(t, pageSiteConfig(t))
	tr := g.addTrigger(t, addOpts{Project: "9", Description: "old deploy script", Owner: "alice"})
	g.secrets.addToken(tr.Token)
	b := newBrowser(t)
	alice := b.newTab("alice", pagePassword)
	alice.open(g.base()+"/triggers/", "")
	revokeOnPage(t, g, alice, tr.Token)

	alice.run(chromedp.Focus(chromedp.CSS("#state")))
	eval[bool](alice, `(() => { const s = document.getElementById("state"); delete document.body.dataset.loaded;
		s.value = "revoked"; s.dispatchEvent(new Event("change")); return true; })()`)
	alice.run(chromedp.WaitVisible(chromedp.CSS(`body[data-loaded="true"]`)))
	row := eval[[]string](alice, `(() => { const r = `+rowOf(tr.Token)+`; if (!r) return [];
		const a = r.querySelector('[data-label="Actions"]'), t = a.querySelector("time");
		return [a.textContent, t ? t.title : ""]; })()`)
	if len(row) != 2 || !strings.Contains(row[0], "Triggers page, user alice") || !strings.Contains(row[1], "T") {
		t.Errorf("the revoked token's row says %q, want when and by whom it was revoked", row)
	}
}
