package integration

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/fetch"
	"github.com/chromedp/chromedp"
)

// The Triggers page when its answers come in another order than its
// requests, or describe a list that changed meanwhile: the page shows what
// its viewer asked for last. The order is made, not waited for: the
// browser holds an answer (DevTools' Fetch domain) until the test lets it go.

// heldAnswers holds the tab's answers to requests whose URL matches a
// pattern of the Fetch domain ('*' any characters, '?' one).
type heldAnswers struct {
	tb     *tab
	paused chan *fetch.EventRequestPaused
}

// holdAnswers starts holding, until the test ends, the answers to the
// requests whose URL matches pattern: the server has answered, the page
// has not read the answer yet.
func holdAnswers(tb *tab, pattern string) *heldAnswers {
	tb.t.Helper()
	h := &heldAnswers{tb: tb, paused: make(chan *fetch.EventRequestPaused, 16)}
	ctx, cancel := context.WithCancel(tb.ctx)
	tb.t.Cleanup(cancel)
	if err := chromedp.Listen(ctx, func(ev any) {
		if e, ok := ev.(*fetch.EventRequestPaused); ok {
			h.paused <- e // the channel has room: a test holds a few answers
		}
	}); err != nil {
		tb.t.Fatalf("listening: %v", err)
	}
	tb.run(chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		_, err := chromedp.Call(ctx, fetch.Enable, fetch.EnableParams{
			Patterns: []*fetch.RequestPattern{{URLPattern: pattern, RequestStage: fetch.RequestStageResponse}},
		})
		return err
	}))
	return h
}

// next waits for the next held answer.
func (h *heldAnswers) next() *fetch.EventRequestPaused {
	h.tb.t.Helper()
	select {
	case ev := <-h.paused:
		return ev
	case <-time.After(30 * time.Second):
		h.tb.t.Fatal("no answer was held")
		return nil
	}
}

// release gives the held answer to the page.
func (h *heldAnswers) release(ev *fetch.EventRequestPaused) {
	h.tb.t.Helper()
	h.tb.run(chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		_, err := chromedp.Call(ctx, fetch.ContinueRequest, fetch.ContinueRequestParams{RequestID: ev.RequestID})
		return err
	}))
}

// trackAnswers records in the page the URL of every JSON answer the page
// has read and acted on: the page's code that follows reading an answer
// runs in microtasks, so a task queued once the body is parsed runs after
// it. A test then waits for a late answer's effect, or its absence, by an
// event rather than by a delay.
func trackAnswers(tb *tab) {
	tb.t.Helper()
	eval[bool](tb, `(() => {
		window.handledAnswers = [];
		const json = Response.prototype.json;
		Response.prototype.json = function () {
			const url = this.url, parsed = json.call(this);
			const done = () => setTimeout(() => window.handledAnswers.push(url));
			parsed.then(done, done);
			return parsed;
		};
		return true;
	})()`)
}

// waitHandled waits until the page has acted on n answers whose URL holds part.
func waitHandled(tb *tab, part string, n int) {
	tb.t.Helper()
	value(tb, chromedp.Poll[bool](fmt.Sprintf(`window.handledAnswers.filter(u => u.includes(%q)).length >= %d`, part, n),
		chromedp.WithPollingTimeout(20*time.Second)))
}

// clickIn clicks the button of the trigger's row that does action.
func clickIn(tb *tab, token, action string) {
	tb.t.Helper()
	eval[bool](tb, "("+rowOf(token)+`.querySelector("[data-action=`+action+`]").click(), true)`)
}

// shownRefs is a JavaScript expression for the refs the recent deliveries show.
const shownRefs = `[...document.querySelectorAll('#delivery-rows [data-label="Ref"]')].map(td => td.textContent)`

// Opening a trigger's recent deliveries, closing them and opening another
// trigger's before the first answer came: that first answer, late, is
// dropped. Before, it replaced the second trigger's deliveries, under the
// second trigger's name.
func TestTriggersPageDropsALateDeliveriesAnswer(t *testing.T) {
	g := newGateway(t, pageSiteConfig(t))
	first := g.addTrigger(t, addOpts{Project: "9", Description: "first", Owner: "alice"})
	second := g.addTrigger(t, addOpts{Project: "9", Description: "second", Owner: "alice"})
	for _, use := range []struct {
		tr  triggerObj
		ref string
	}{{first, "first-ref"}, {second, "second-ref"}} {
		if resp := g.post(t, "/api/v4/projects/9/trigger/pipeline", urlencoded("token", use.tr.Token, "ref", use.ref)); resp.Status != http.StatusCreated {
			t.Fatalf("trigger: %s", redact(resp.String(), g.secrets.all()))
		}
	}
	g.up.take()
	b := newBrowser(t)
	alice := b.newTab("alice", pagePassword)
	alice.open(g.base()+"/triggers/", "")
	trackAnswers(alice)
	firstURL := "/api/triggers/" + strconv.FormatInt(first.ID, 10) + "/deliveries"
	held := holdAnswers(alice, "*"+firstURL+"*")

	clickIn(alice, first.Token, "deliveries")
	late := held.next()
	alice.run(chromedp.KeyEvent("\x1b"), chromedp.WaitNotPresent(chromedp.CSS("#deliveries-dialog[open]")))
	clickIn(alice, second.Token, "deliveries")
	alice.run(chromedp.WaitVisible(chromedp.CSS(`#deliveries-dialog[data-loaded="true"]`)))
	if refs := eval[[]string](alice, shownRefs); len(refs) != 1 || refs[0] != "second-ref" {
		t.Fatalf("the second trigger's deliveries show the refs %q, want [second-ref]", refs)
	}

	held.release(late)
	waitHandled(alice, firstURL, 1)
	if refs := eval[[]string](alice, shownRefs); len(refs) != 1 || refs[0] != "second-ref" {
		t.Errorf("after the first trigger's late answer, the second trigger's deliveries show the refs %q, want [second-ref]", refs)
	}
	if about := value(alice, chromedp.Text(chromedp.CSS("#deliveries-about"))); !strings.Contains(about, "second") {
		t.Errorf("the deliveries are about %q, want the second trigger", about)
	}
}

// addTriggersQuick adds n triggers to project 9 through the admin API, for
// lists longer than a page.
func addTriggersQuick(t *testing.T, g *gateway, n int) []triggerObj {
	t.Helper()
	list := make([]triggerObj, n)
	for i := range list {
		tr, ok := g.createTriggerQuick(http.DefaultClient, "trigger "+strconv.Itoa(i))
		if !ok {
			t.Fatalf("adding trigger %d failed", i)
		}
		list[i] = tr
	}
	return list
}

// revokeQuick revokes a trigger through the admin API, as another user would.
func revokeQuick(t *testing.T, g *gateway, tr triggerObj) {
	t.Helper()
	req := mustRequest(t, http.MethodDelete, "http://"+g.adminAddr()+"/trigger_gateway/triggers/"+strconv.FormatInt(tr.ID, 10))
	if resp := g.do(t, req); resp.Status != http.StatusNoContent {
		t.Fatalf("revoking %d: %s", tr.ID, resp)
	}
}

// listShown is what the page shows of its list: rows, count, page, pager.
type listShown struct {
	Rows       int    `json:"rows"`
	Count      string `json:"count"`
	Empty      bool   `json:"empty"`
	PageInfo   string `json:"pageInfo"`
	Pager      bool   `json:"pager"`
	PrevUsable bool   `json:"prevUsable"`
	NextUsable bool   `json:"nextUsable"`
}

const listShownJS = `({
	rows: document.querySelectorAll("#rows tr").length,
	count: document.getElementById("count").textContent,
	empty: !document.getElementById("empty").hidden,
	pageInfo: document.getElementById("page-info").textContent,
	pager: !document.getElementById("pager").hidden,
	prevUsable: !document.getElementById("prev").disabled,
	nextUsable: !document.getElementById("next").disabled,
})`

// pageAfter runs a click that loads the list and returns what the page then shows.
func pageAfter(tb *tab, click string) listShown {
	tb.t.Helper()
	eval[bool](tb, `(delete document.body.dataset.loaded, document.querySelector(`+fmt.Sprintf("%q", click)+`).click(), true)`)
	tb.run(chromedp.WaitVisible(chromedp.CSS(`body[data-loaded="true"]`)))
	return eval[listShown](tb, listShownJS)
}

// A list that shrank while its viewer looked (another user revoked
// triggers) is shown from its last page: Next to a page that no longer
// exists shows the last one, and an emptied list page 1 of 1. Before, the
// page showed an empty page 2 without a pager, "No trigger tokens here
// yet" above 50 active tokens, and stayed on that page for the next loads.
func TestTriggersPageStaysWithinTheList(t *testing.T) {
	g := newGateway(t, pageSiteConfig(t))
	triggers := addTriggersQuick(t, g, 51)
	b := newBrowser(t)
	alice := b.newTab("alice", pagePassword)
	alice.open(g.base()+"/triggers/", "")
	if shown := eval[listShown](alice, listShownJS); shown.Rows != 50 || shown.PageInfo != "Page 1 of 2" || !shown.NextUsable {
		t.Fatalf("the page shows %+v, want 50 rows on page 1 of 2", shown)
	}

	revokeQuick(t, g, triggers[0])
	want := listShown{Rows: 50, Count: "Showing 1–50 of 50 tokens", PageInfo: "Page 1 of 1"}
	if shown := pageAfter(alice, "#next"); shown != want {
		t.Errorf("after another user's revoke, Next shows %+v, want %+v", shown, want)
	}

	triggers = append(triggers, addTriggersQuick(t, g, 1)...)
	alice.open(g.base()+"/triggers/", "")
	for _, tr := range triggers[1:] {
		revokeQuick(t, g, tr)
	}
	want = listShown{Empty: true, PageInfo: "Page 1 of 1"}
	if shown := pageAfter(alice, "#next"); shown != want {
		t.Errorf("once every trigger was revoked, Next shows %+v, want %+v", shown, want)
	}
}

// chooseShow switches the list between active and revoked tokens as its
// viewer does, and waits for the list.
func chooseShow(tb *tab, state string) {
	tb.t.Helper()
	eval[bool](tb, `(() => { const s = document.getElementById("state"); delete document.body.dataset.loaded;
		s.value = `+fmt.Sprintf("%q", state)+`; s.dispatchEvent(new Event("change")); return true; })()`)
	tb.run(chromedp.WaitVisible(chromedp.CSS(`body[data-loaded="true"]`)))
}

// A trigger added while the list shows revoked tokens, or another
// project's, is shown once added: the page shows the active tokens of the
// new trigger's project (and the token once, in its dialog). Before, the
// list stayed on the revoked tokens, without the new one.
func TestTriggersPageShowsTheTriggerAdded(t *testing.T) {
	g := newGateway(t, pageSiteConfig(t))
	old := g.addTrigger(t, addOpts{Project: "9", Description: "old", Owner: "alice"})
	g.secrets.addToken(old.Token)
	g.addTrigger(t, addOpts{Project: "10", Description: "another project's", Owner: "alice"})
	if res := g.revokeTrigger(t, old.ID); res.ExitCode != 0 {
		t.Fatalf("revoke: %s", res.Stderr)
	}
	b := newBrowser(t)
	alice := b.newTab("alice", pagePassword)
	alice.open(g.base()+"/triggers/", "")

	chooseShow(alice, "revoked")
	token := addTriggerOnPage(t, g, alice, "9", "added while revoked ones are shown", g.base()+"/api/v4")
	if !becomesTrue(alice, rowOf(token)+` !== undefined && `+rowOf(old.Token)+` === undefined`) {
		t.Errorf("after the add, the list shows %q, want the active tokens with the new one",
			eval[[]string](alice, `[...document.querySelectorAll("#rows tr")].map(r => r.innerText)`))
	}
	if state := eval[string](alice, `document.getElementById("state").value`); state != "active" {
		t.Errorf("Show says %q, want active", state)
	}

	// The list filtered on project 10, a trigger added to project 9.
	eval[bool](alice, `(document.getElementById("project-filter").value = "10", true)`)
	pageAfter(alice, `#filters button[type="submit"]`)
	alice.run(chromedp.Click(chromedp.CSS("#add-button")), chromedp.WaitVisible(chromedp.CSS("#add-dialog[open]")),
		chromedp.SetValue(chromedp.CSS("#add-project"), "9"), chromedp.SetValue(chromedp.CSS("#add-description"), "added to another project"),
		chromedp.Click(chromedp.CSS("#add-submit")), chromedp.WaitVisible(chromedp.CSS("#token-dialog[open]")))
	other := value(alice, chromedp.Text(chromedp.CSS("#token-value")))
	g.secrets.addToken(other)
	dismissToken(t, alice, other)
	if !becomesTrue(alice, rowOf(other)+` !== undefined && document.getElementById("project-filter").value === "9"`) {
		t.Errorf("after an add to project 9, the list filtered on %q shows %q, want project 9's tokens with the new one",
			eval[string](alice, `document.getElementById("project-filter").value`),
			eval[[]string](alice, `[...document.querySelectorAll("#rows tr")].map(r => r.innerText)`))
	}
	assertTokenGoneFromPage(t, alice, token)
	assertTokenGoneFromPage(t, alice, other)
}

// With more than a page of used tokens, a new trigger, never used, is
// beyond page 1 by last use: once added, the list is sorted by creation,
// which shows it first.
func TestTriggersPageShowsTheTriggerAddedAfterAPageOfUsedOnes(t *testing.T) {
	g := newGateway(t, pageSiteConfig(t))
	used := addTriggersQuick(t, g, 50)
	for _, tr := range used {
		if resp := g.post(t, "/api/v4/projects/9/trigger/pipeline", urlencoded("token", tr.Token, "ref", "main")); resp.Status != http.StatusCreated {
			t.Fatalf("trigger: %s", redact(resp.String(), g.secrets.all()))
		}
	}
	g.up.take()
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		if n, _ := g.usage(t, used[len(used)-1]); n == 1 {
			break
		} else if time.Now().After(deadline) {
			t.Fatal("the uses were not flushed")
		}
	}
	b := newBrowser(t)
	alice := b.newTab("alice", pagePassword)
	alice.open(g.base()+"/triggers/", "")
	token := addTriggerOnPage(t, g, alice, "9", "after fifty used ones", g.base()+"/api/v4")
	if !becomesTrue(alice, rowOf(token)+` !== undefined && document.getElementById("sort").value === "created"`) {
		t.Errorf("after the add, the list sorted by %q does not show the new trigger", eval[string](alice, `document.getElementById("sort").value`))
	}
}

// shownProjects is a JavaScript expression for the projects of the rows shown.
const shownProjects = `[...document.querySelectorAll('#rows [data-label="Project"]')].map(td => td.textContent)`

// A list asked for with one filter, answered after the list asked for next,
// is dropped: the page shows the list its filter fields say. Before, the
// late answer replaced it: project 9's tokens under the filter "10".
func TestTriggersPageDropsALateListAnswer(t *testing.T) {
	g := newGateway(t, pageSiteConfig(t))
	g.addTrigger(t, addOpts{Project: "9", Description: "nine", Owner: "alice"})
	g.addTrigger(t, addOpts{Project: "10", Description: "ten", Owner: "alice"})
	b := newBrowser(t)
	alice := b.newTab("alice", pagePassword)
	alice.open(g.base()+"/triggers/", "")
	trackAnswers(alice)
	held := holdAnswers(alice, "*/api/triggers?project=9&*")

	eval[bool](alice, `(document.getElementById("project-filter").value = "9", document.getElementById("filters").requestSubmit(), true)`)
	late := held.next()
	eval[bool](alice, `(document.getElementById("project-filter").value = "10", true)`)
	pageAfter(alice, `#filters button[type="submit"]`)
	if projects := eval[[]string](alice, shownProjects); len(projects) != 1 || projects[0] != "10" {
		t.Fatalf("the list filtered on 10 shows the projects %q", projects)
	}

	held.release(late)
	waitHandled(alice, "project=9&", 1)
	if projects := eval[[]string](alice, shownProjects); len(projects) != 1 || projects[0] != "10" {
		t.Errorf("after the late answer for 9, the list filtered on 10 shows the projects %q", projects)
	}
}

// A list answered before a revoke and read after it does not show the
// revoked trigger as active: the page asks again. Before, the row the
// revoke had marked came back with its Revoke button.
func TestTriggersPageKeepsARevokeMadeWhileTheListLoads(t *testing.T) {
	g := newGateway(t, pageSiteConfig(t))
	tr := g.addTrigger(t, addOpts{Project: "9", Description: "revoked while the list loads", Owner: "alice"})
	g.secrets.addToken(tr.Token)
	b := newBrowser(t)
	alice := b.newTab("alice", pagePassword)
	alice.open(g.base()+"/triggers/", "")
	trackAnswers(alice)
	held := holdAnswers(alice, "*/api/triggers?sort=created&*")

	eval[bool](alice, `(() => { const s = document.getElementById("sort"); s.value = "created"; s.dispatchEvent(new Event("change")); return true; })()`)
	late := held.next() // the list, with the trigger active
	revokeOnPage(t, g, alice, tr.Token)
	held.release(late)
	waitHandled(alice, "sort=created&", 1)
	if eval[bool](alice, `document.querySelector("[data-action=revoke]") !== null`) {
		t.Fatal("after the revoke, the list offers Revoke for the revoked trigger")
	}
	// The list asked for again, answered after the revoke, is of the active tokens.
	held.release(held.next())
	waitHandled(alice, "sort=created&", 2)
	if shown := eval[listShown](alice, listShownJS); !shown.Empty || shown.Rows != 0 {
		t.Errorf("the active tokens after the revoke: %+v, want none", shown)
	}
}
