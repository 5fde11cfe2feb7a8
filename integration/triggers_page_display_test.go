package integration

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
)

// What the Triggers page shows of the less usual triggers: an expiry
// date read in another time zone, revoked triggers, long descriptions,
// project paths, refs and variable names; and what a maintainer who is
// one no longer is told.

// inTimeZone makes the tab's clock local to zone (an IANA name).
func inTimeZone(tb *tab, zone string) {
	tb.t.Helper()
	tb.run(chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		_, err := chromedp.Call(ctx, emulation.SetTimezoneOverride, emulation.SetTimezoneOverrideParams{TimezoneID: zone})
		return err
	}))
}

// becomesTrue reports whether the JavaScript expression becomes true
// within 5 seconds.
func becomesTrue(tb *tab, expr string) bool {
	tb.t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if eval[bool](tb, expr) {
			return true
		}
	}
	return false
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

// Long descriptions, project paths, refs and variable names wrap: the
// list, the recent deliveries and the confirmation fit the window, on a
// desktop and at a phone's 375 px, so every button is in reach without
// scrolling sideways. Before, one 250-character description put Revoke
// 2,500 px to the right, and a long ref made the deliveries scroll.
func TestTriggersPageWrapsLongTexts(t *testing.T) {
	g := newGateway(t, pageSiteConfig(t))
	project := "group/" + strings.Repeat("subgroup", 15) + "/project"
	tr := g.addTrigger(t, addOpts{Project: project, Description: strings.Repeat("d", 250), Owner: "alice"})
	g.secrets.addToken(tr.Token)
	resp := g.post(t, "/api/v4/projects/"+strings.ReplaceAll(project, "/", "%2F")+"/trigger/pipeline",
		urlencoded("token", tr.Token, "ref", "feature/"+strings.Repeat("long-branch-name", 10),
			"variables["+strings.Repeat("LONG_VARIABLE_NAME_", 8)+"]", g.varValue()))
	if resp.Status != http.StatusCreated {
		t.Fatalf("trigger: %s", redact(resp.String(), g.secrets.all()))
	}
	g.up.take()
	b := newBrowser(t)
	alice := b.newTab("alice", pagePassword)
	// The page, the tables' and the open dialog's scrolling boxes.
	const overflow = `Math.max(...[document.documentElement, ...document.querySelectorAll(".table-wrap, dialog[open]")]
		.map(e => e.scrollWidth - e.clientWidth))`
	for _, width := range []int64{1280, 375} {
		alice.run(chromedp.EmulateViewport(width, 800))
		alice.open(g.base()+"/triggers/", "")
		if px := eval[int](alice, overflow); px > 0 {
			t.Errorf("at %dpx the list is %dpx too wide", width, px)
		}
		if right := eval[float64](alice, `document.querySelector("[data-action=revoke]").getBoundingClientRect().right`); right > float64(width) {
			t.Errorf("at %dpx Revoke is at %.0fpx, out of the window", width, right)
		}
		eval[bool](alice, `(document.querySelector("[data-action=deliveries]").click(), true)`)
		alice.run(chromedp.WaitVisible(chromedp.CSS(`#deliveries-dialog[data-loaded="true"]`)))
		if rows := eval[int](alice, `document.querySelectorAll("#delivery-rows tr").length`); rows != 1 {
			t.Fatalf("the deliveries show %d rows, want 1", rows)
		}
		if px := eval[int](alice, overflow); px > 0 {
			t.Errorf("at %dpx the recent deliveries are %dpx too wide", width, px)
		}
		alice.run(chromedp.KeyEvent("\x1b"), chromedp.WaitNotPresent(chromedp.CSS("#deliveries-dialog[open]")))
		eval[bool](alice, `(document.querySelector("[data-action=revoke]").click(), true)`)
		alice.run(chromedp.WaitVisible(chromedp.CSS("#revoke-dialog[open]")))
		if px := eval[int](alice, overflow); px > 0 {
			t.Errorf("at %dpx the confirmation is %dpx too wide", width, px)
		}
		alice.run(chromedp.KeyEvent("\x1b"), chromedp.WaitNotPresent(chromedp.CSS("#revoke-dialog[open]")))
	}
}

// A maintainer whose page was opened before the configuration made them a
// viewer is told they may no longer change anything, and the page stops
// offering Add and Revoke. Before, it answered "403 Forbidden. Try again."
// to every try, offering the same buttons.
func TestTriggersPageTellsAFormerMaintainer(t *testing.T) {
	cfg := pageSiteConfig(t)
	g := newGateway(t, cfg)
	tr := g.addTrigger(t, addOpts{Project: "9", Description: "kept", Owner: "alice"})
	g.secrets.addToken(tr.Token)
	b := newBrowser(t)
	alice := b.newTab("alice", pagePassword)
	alice.open(g.base()+"/triggers/", "")

	cfg.Site = strings.Replace(cfg.Site, "maintainers alice", "maintainers bob", 1)
	g.reload(t, cfg)

	eval[bool](alice, "("+rowOf(tr.Token)+`.querySelector("[data-action=revoke]").focus(), true)`)
	alice.run(chromedp.KeyEvent("\r"), chromedp.WaitVisible(chromedp.CSS("#revoke-dialog[open]")),
		chromedp.Click(chromedp.CSS("#revoke-confirm")))
	message := value(alice, chromedp.Poll[string](`document.getElementById("revoke-error").textContent`))
	if !strings.Contains(message, "403") || strings.Contains(message, "Try again") || !strings.Contains(message, "read only") {
		t.Errorf("the refusal says %q, want that the page is now read only", message)
	}
	alice.run(chromedp.KeyEvent("\x1b"), chromedp.WaitNotPresent(chromedp.CSS("#revoke-dialog[open]")))
	if !becomesTrue(alice, `document.getElementById("add-button").hidden && document.querySelector("[data-action=revoke]") === null`) {
		t.Error("the page still offers Add or Revoke to a viewer")
	}
	// The dialog's close event, which gives the focus back, comes a moment after it closes.
	if !becomesTrue(alice, `document.activeElement.id === "project-filter"`) {
		t.Errorf("after the refusal, the focus is on %q, want the project filter", eval[string](alice, `document.activeElement.id`))
	}
	if who := value(alice, chromedp.Text(chromedp.CSS("#who"))); !strings.Contains(who, "read only") {
		t.Errorf("who: %q", who)
	}
	if list := g.listTriggers(t, "9"); len(list) != 1 {
		t.Errorf("project 9 has %d active triggers, want 1", len(list))
	}
}
