package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
)

// The Triggers page in a real headless Chromium, on both of its mounts: a
// maintainer adds a trigger by keyboard, reads its token from the dialog,
// triggers a pipeline with it, sees its use and its delivery after a
// reload, revokes it, and the next trigger with it is refused. The token is nowhere in the page or
// browser storage once its dialog is dismissed; the page requests nothing
// from another host; a state change from another origin is refused.

// pagePassword is the basic_auth password of the site mount's users.
const pagePassword = "correct horse battery staple"

// hashPassword hashes a password as basic_auth takes it, with a low cost:
// basic_auth checks it on every request.
func hashPassword(t *testing.T, password string) string {
	t.Helper()
	out, err := exec.Command(caddyBinary, "hash-password", "--bcrypt-cost", "4", "--plaintext", password).Output()
	if err != nil {
		t.Fatalf("caddy hash-password: %v", err)
	}
	return strings.TrimSpace(string(out))
}

// pageSiteConfig serves the page at /triggers/ behind basic_auth: alice
// maintains, bob only looks. Usage is flushed every 200ms so the page shows
// it quickly.
func pageSiteConfig(t *testing.T) config {
	hash := hashPassword(t, pagePassword)
	return config{
		Gateway: "usage_flush_interval 200ms",
		Site: fmt.Sprintf(`
redir /triggers /triggers/
handle_path /triggers/* {
	basic_auth {
		alice %[1]s
		bob %[1]s
	}
	trigger_gateway_ui {
		maintainers alice
	}
}`, hash),
	}
}

var pageToken = regexp.MustCompile(`^glptt-[0-9a-f]{40}$`)

func TestTriggersPageOnTheSite(t *testing.T) {
	g := newGateway(t, pageSiteConfig(t))
	b := newBrowser(t)
	pageURL := g.base() + "/triggers/"

	alice := b.newTab("alice", pagePassword)
	alice.open(pageURL, "")
	if who := value(alice, chromedp.Text(chromedp.CSS("#who"))); !strings.Contains(who, "alice") || !strings.Contains(who, "may add and revoke") {
		t.Errorf("who: %q", who)
	}
	token := addTriggerOnPage(t, g, alice, "9", "deploy docs", g.base()+"/api/v4")
	useTriggerAndSeeIt(t, g, alice, token)

	// bob sees the trigger, but no Add and no Revoke, and the API refuses him.
	bob := b.newTab("bob", pagePassword)
	bob.open(pageURL, "")
	if rows := eval[int](bob, `document.querySelectorAll("#rows tr").length`); rows != 1 {
		t.Errorf("bob sees %d rows, want 1", rows)
	}
	if eval[bool](bob, `getComputedStyle(document.getElementById("add-button")).display !== "none" || document.querySelector("[data-action=revoke]") !== null`) {
		t.Error("bob, a viewer, is shown Add or Revoke")
	}
	if status := eval[int](bob, `fetch("api/session").then(r => r.json()).then(s => fetch("api/triggers", {
		method: "POST", headers: {"Content-Type": "application/json", "X-CSRF-Token": s.csrf_token},
		body: JSON.stringify({project: "9", description: "bob's"})})).then(r => r.status)`, chromedp.EvalAwaitPromise); status != http.StatusForbidden {
		t.Errorf("bob's POST from the page: %d, want 403", status)
	}
	bob.assertOnlyOrigin(g.base())

	// Without a user, nothing is served.
	if resp := g.do(t, mustRequest(t, http.MethodGet, pageURL)); resp.Status != http.StatusUnauthorized {
		t.Errorf("anonymous GET: %s", resp)
	}

	refuseCrossOrigin(t, g, b, pageURL, "alice")
	revokeOnPage(t, g, alice, token)
	assertTokenGoneFromPage(t, alice, token)
	alice.assertOnlyOrigin(g.base())
	checkLayout(t, alice)

	if os.Getenv("UPDATE_SCREENSHOTS") == "1" {
		takeScreenshot(t, g, alice, pageURL)
	}
	assertNoNewTrigger(t, g, "bob's", "attacker")
}

func TestTriggersPageOnTheAdminEndpoint(t *testing.T) {
	g := newGateway(t, config{Gateway: "usage_flush_interval 200ms"})
	b := newBrowser(t)
	admin := "http://" + g.adminAddr()
	pageURL := admin + "/trigger_gateway/ui/"

	// Caddy's admin endpoint refuses a browser's request that carries
	// neither Origin nor Referer (a typed address does not): the page is
	// opened as a link on the admin endpoint would open it.
	tab := b.newTab("", "")
	tab.open(pageURL, admin+"/")
	if who := value(tab, chromedp.Text(chromedp.CSS("#who"))); !strings.Contains(who, "may add and revoke") {
		t.Errorf("who: %q", who)
	}
	token := addTriggerOnPage(t, g, tab, "9", "nightly build", "$GATEWAY_URL/api/v4")
	if value(tab, chromedp.Evaluate[bool](`document.getElementById("gateway-hint").hidden`)) {
		t.Error("the admin endpoint's page does not say to set GATEWAY_URL")
	}
	dismissToken(t, tab, token)
	useTriggerAndSeeIt(t, g, tab, token)
	refuseCrossOrigin(t, g, b, pageURL, "")
	revokeOnPage(t, g, tab, token)
	assertTokenGoneFromPage(t, tab, token)
	tab.assertOnlyOrigin(admin)
	assertNoNewTrigger(t, g, "attacker")
}

func mustRequest(t *testing.T, method, url string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	return req
}

// addTriggerOnPage adds a trigger with the keyboard only and returns the
// token read from the dialog, whose snippets must hold it with apiBase.
// On the site, the token dialog is dismissed too.
func addTriggerOnPage(t *testing.T, g *gateway, tb *tab, project, description, apiBase string) string {
	t.Helper()
	tb.run(chromedp.Focus(chromedp.CSS("#add-button")), chromedp.KeyEvent("\r"),
		chromedp.WaitVisible(chromedp.CSS("#add-dialog[open]")))
	if focused := eval[string](tb, `document.activeElement.id`); focused != "add-project" {
		t.Errorf("the Add dialog opened with the focus on %q, want the project field", focused)
	}
	tb.run(chromedp.KeyEvent(project), chromedp.KeyEvent("\t"), chromedp.KeyEvent(description), chromedp.KeyEvent("\r"),
		chromedp.WaitVisible(chromedp.CSS("#token-dialog[open]")))
	token := value(tb, chromedp.Text(chromedp.CSS("#token-value")))
	if !pageToken.MatchString(token) {
		t.Fatalf("the dialog shows %q, not a trigger token", token)
	}
	g.secrets.addToken(token)
	if focused := eval[string](tb, `document.activeElement.closest("dialog")?.id ?? ""`); focused != "token-dialog" {
		t.Errorf("the focus is not in the token dialog but in %q", focused)
	}
	url := apiBase + "/projects/" + project + "/trigger/pipeline"
	for id, want := range map[string][]string{
		"snippet-curl":    {"--form token=" + token, "--form ref=main", `"` + url + `"`},
		"snippet-ci":      {`--form "token=$TRIGGER_TOKEN"`, url, "rules:"},
		"snippet-webhook": {apiBase + "/projects/" + project + "/ref/main/trigger/pipeline?token=" + token},
	} {
		text := value(tb, chromedp.Text(chromedp.CSS("#"+id)))
		for _, w := range want {
			if !strings.Contains(text, w) {
				t.Errorf("%s lacks %q:\n%s", id, w, redact(text, g.secrets.all()))
			}
		}
	}
	if strings.Contains(value(tb, chromedp.Text(chromedp.CSS("#snippet-ci"))), token) {
		t.Error("the .gitlab-ci.yml job holds the token itself")
	}
	tb.run(chromedp.Click(chromedp.CSS(`button.copy[data-copy="token-value"]`)))
	value(tb, chromedp.Poll[bool](`document.getElementById("copy-status").textContent !== ""`, chromedp.WithPollingTimeout(5*time.Second)))
	if !strings.HasPrefix(apiBase, "$") {
		dismissToken(t, tb, token)
	}
	return token
}

// dismissToken closes the token dialog with Escape.
func dismissToken(t *testing.T, tb *tab, token string) {
	t.Helper()
	tb.run(chromedp.KeyEvent("\x1b"), chromedp.WaitNotPresent(chromedp.CSS("#token-dialog[open]")))
	assertTokenGoneFromPage(t, tb, token)
	if focused := eval[string](tb, `document.activeElement.id`); focused != "add-button" {
		t.Errorf("after the token dialog, the focus is on %q, want Add new token", focused)
	}
}

// assertTokenGoneFromPage fails if the token is anywhere the page or the
// browser keeps things: the document, browser storage, the URLs loaded.
func assertTokenGoneFromPage(t *testing.T, tb *tab, token string) {
	t.Helper()
	found := eval[[]string](tb, fmt.Sprintf(`(() => {
		const token = %q;
		const places = {
			document: document.documentElement.outerHTML + document.body.innerText,
			localStorage: JSON.stringify(Object.entries(localStorage)),
			sessionStorage: JSON.stringify(Object.entries(sessionStorage)),
			cookies: document.cookie,
			address: location.href + " " + history.length,
			loaded: performance.getEntries().map(e => e.name).join(" "),
			inputs: [...document.querySelectorAll("input")].map(i => i.value).join(" "),
		};
		return Object.keys(places).filter(k => places[k].includes(token));
	})()`, token))
	if len(found) > 0 {
		t.Errorf("the token is still in: %v", found)
	}
	if n := eval[int](tb, `localStorage.length + sessionStorage.length`); n != 0 {
		t.Errorf("the page stored %d items in browser storage", n)
	}
	for _, u := range tb.requested() {
		if strings.Contains(u, token) {
			t.Errorf("the page requested a URL holding the token")
		}
	}
}

// rowOf is a JavaScript expression for the row of the trigger token.
func rowOf(token string) string {
	return fmt.Sprintf(`[...document.querySelectorAll("#rows tr")].find(r => r.querySelector(".token-prefix").textContent === %q)`,
		token[:displayPrefixLen(token)])
}

// useTriggerAndSeeIt triggers a pipeline with the token through the
// gateway, then reloads the page until its row shows the use, and opens
// the trigger's recent deliveries.
func useTriggerAndSeeIt(t *testing.T, g *gateway, tb *tab, token string) {
	t.Helper()
	secretValue := g.varValue()
	resp := g.post(t, "/api/v4/projects/9/trigger/pipeline",
		urlencoded("token", token, "ref", "main", "variables[DEPLOY_ENV]", secretValue))
	if resp.Status != http.StatusCreated {
		t.Fatalf("triggering with the page's token: %s", redact(resp.String(), g.secrets.all()))
	}
	got := g.up.take()
	if len(got) != 1 {
		t.Fatalf("the upstream got %d requests, want 1", len(got))
	}
	var started pipeline
	if err := json.Unmarshal(got[0].Response, &started); err != nil || started.ID == 0 {
		t.Fatalf("the upstream's pipeline: %s", got[0].Response)
	}
	var uses, lastUsed, exact string
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); {
		tb.run(chromedp.Reload(), chromedp.WaitVisible(chromedp.CSS(`body[data-loaded="true"]`)))
		cells := eval[[]string](tb, `(() => { const r = `+rowOf(token)+`; if (!r) return ["", "", ""];
			const used = r.querySelector('[data-label="Last used"] time');
			return [r.querySelector('[data-label="Uses"]').textContent, used ? used.textContent : "", used ? used.title : ""]; })()`)
		uses, lastUsed, exact = cells[0], cells[1], cells[2]
		if uses == "1" {
			break
		}
		time.Sleep(300 * time.Millisecond)
	}
	if uses != "1" || lastUsed == "" || !regexp.MustCompile(`\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d`).MatchString(exact) {
		t.Fatalf("after one use the row shows uses %q, last used %q (exact %q)", uses, lastUsed, exact)
	}

	// The delivery, with its pipeline linked and the variable by name only.
	eval[bool](tb, "("+rowOf(token)+`.querySelector("[data-action=deliveries]").focus(), true)`)
	tb.run(chromedp.KeyEvent("\r"), chromedp.WaitVisible(chromedp.CSS(`#deliveries-dialog[data-loaded="true"]`)))
	delivery := eval[map[string]string](tb, `(() => {
		const row = document.querySelector("#delivery-rows tr"), out = {};
		if (!row) return out;
		for (const td of row.children) out[td.dataset.label] = td.textContent;
		const a = row.querySelector("a");
		out.href = a ? a.href : "";
		out.dialog = document.getElementById("deliveries-dialog").innerText;
		return out; })()`)
	want := map[string]string{"Source": "trigger", "Ref": "main", "Variables": "DEPLOY_ENV", "Outcome": "accepted",
		"CI status": "201", "Pipeline": fmt.Sprintf("#%d", started.ID), "href": started.WebURL}
	for k, v := range want {
		if delivery[k] != v {
			t.Errorf("delivery %s: %q, want %q", k, delivery[k], v)
		}
	}
	if strings.Contains(delivery["dialog"], secretValue) {
		t.Error("the deliveries show a variable's value")
	}
	tb.run(chromedp.KeyEvent("\x1b"), chromedp.WaitNotPresent(chromedp.CSS("#deliveries-dialog[open]")))
	if focused := eval[string](tb, `document.activeElement.dataset.action ?? ""`); focused != "deliveries" {
		t.Errorf("after the deliveries, the focus is on %q, want their button", focused)
	}
}

// revokeOnPage revokes the token's trigger with the keyboard, after the
// confirmation, and checks the row and the gateway refusing the token.
func revokeOnPage(t *testing.T, g *gateway, tb *tab, token string) {
	t.Helper()
	eval[bool](tb, "("+rowOf(token)+`.querySelector("[data-action=revoke]").focus(), true)`)
	tb.run(chromedp.KeyEvent("\r"), chromedp.WaitVisible(chromedp.CSS("#revoke-dialog[open]")))
	if text := value(tb, chromedp.Text(chromedp.CSS("#revoke-dialog"))); !strings.Contains(text, "irreversible") {
		t.Errorf("the confirmation does not say revoking is irreversible: %q", text)
	}
	if focused := eval[string](tb, `document.activeElement.id`); focused != "revoke-cancel" {
		t.Errorf("the confirmation opened with the focus on %q, want Cancel", focused)
	}
	tb.run(chromedp.KeyEvent("\t"), chromedp.KeyEvent("\r"), chromedp.WaitNotPresent(chromedp.CSS("#revoke-dialog[open]")))
	if !eval[bool](tb, rowOf(token)+`.classList.contains("revoked") && `+rowOf(token)+`.querySelector("[data-action=revoke]") === null`) {
		t.Error("the row does not show revoked")
	}
	resp := g.post(t, "/api/v4/projects/9/trigger/pipeline", urlencoded("token", token, "ref", "main"))
	assertJSONAnswer(t, resp, http.StatusNotFound, `{"message":"404 Not Found"}`)
	assertNothingForwarded(t, g.up)
}

// refuseCrossOrigin sends the page's state changes from another origin:
// a form of another site posted in the user's browser (with the user's
// credentials), and a script there; and, outside a browser, a request
// with a valid CSRF token but another Origin. None may create a trigger.
func refuseCrossOrigin(t *testing.T, g *gateway, b *browser, pageURL, user string) {
	t.Helper()
	target := pageURL + "api/triggers"
	attacker := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		fmt.Fprintf(w, `<!doctype html><title>elsewhere</title>
<form method="post" enctype="text/plain" action=%q><input name='{"project":"9","description":"attacker","x":"' value='"}'></form>
<script>
fetch(%q, {method: "POST", mode: "no-cors", credentials: "include", headers: {"Content-Type": "text/plain"},
	body: JSON.stringify({project: "9", description: "attacker"})}).finally(() => document.forms[0].submit());
</script>`, target, target)
	}))
	defer attacker.Close()
	evil := b.newTab(user, pagePassword)
	evil.navigate(attacker.URL+"/", "")
	evil.run(chromedp.WaitVisible(chromedp.CSS("body")))
	// The form's navigation lands on the refusal.
	var answer string
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		if answer = eval[string](evil, `location.href.startsWith(`+fmt.Sprintf("%q", target)+`) ? document.body.innerText : ""`); answer != "" {
			break
		}
	}
	if !strings.Contains(answer, "403") && !strings.Contains(answer, "not allowed") {
		t.Errorf("a form posted from another origin got %q", answer)
	}

	// A valid CSRF token does not help another origin.
	session := g.do(t, withAuth(mustRequest(t, http.MethodGet, pageURL+"api/session"), user, pageURL))
	csrf := regexp.MustCompile(`"csrf_token":"([^"]+)"`).FindStringSubmatch(string(session.Body))
	if session.Status != http.StatusOK || csrf == nil {
		t.Fatalf("session: %s", session)
	}
	req, _ := http.NewRequest(http.MethodPost, target, strings.NewReader(`{"project":"9","description":"attacker"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Origin", "http://evil.example")
	req.Header.Set("X-CSRF-Token", csrf[1])
	for _, cookie := range (&http.Response{Header: session.Header}).Cookies() {
		req.AddCookie(cookie) // the session the token belongs to
	}
	if resp := g.do(t, withAuth(req, user, pageURL)); resp.Status != http.StatusForbidden {
		t.Errorf("POST with another Origin: %s", resp)
	}
}

// withAuth adds the user's basic-auth credentials (none for "") and, on
// the admin endpoint, the Referer a browser on the page sends.
func withAuth(req *http.Request, user, pageURL string) *http.Request {
	if user != "" {
		req.SetBasicAuth(user, pagePassword)
	}
	req.Header.Set("Referer", pageURL)
	return req
}

// assertNoNewTrigger fails if a trigger with one of these descriptions exists.
func assertNoNewTrigger(t *testing.T, g *gateway, descriptions ...string) {
	t.Helper()
	for _, tr := range g.listTriggers(t, "") {
		for _, d := range descriptions {
			if tr.Description == d {
				t.Errorf("a refused request created trigger %d (%s)", tr.ID, d)
			}
		}
	}
}

// checkLayout checks the page at a phone's width (no sideways scrolling)
// and that dark and light follow the system setting.
func checkLayout(t *testing.T, tb *tab) {
	t.Helper()
	emulate := func(features ...*emulation.MediaFeature) {
		tb.run(chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
			_, err := chromedp.Call(ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{Features: features})
			return err
		}))
	}
	background := func(scheme string) string {
		emulate(&emulation.MediaFeature{Name: "prefers-color-scheme", Value: scheme})
		return eval[string](tb, `getComputedStyle(document.body).backgroundColor`)
	}
	if light, dark := background("light"), background("dark"); light == dark {
		t.Errorf("light and dark have the same background %s", light)
	}
	emulate()
	tb.run(chromedp.EmulateViewport(375, 740))
	defer tb.run(chromedp.EmulateViewport(1280, 900))
	// Neither the page nor its table scrolls sideways: the rows become cards.
	if overflow := eval[int](tb, `Math.max(...[document.documentElement, ...document.querySelectorAll(".table-wrap")].map(e => e.scrollWidth - e.clientWidth))`); overflow > 0 {
		t.Errorf("at 375px the page is %dpx too wide", overflow)
	}
}

// takeScreenshot fills the page with a few triggers and writes its picture
// to docs/triggers-page.png (UPDATE_SCREENSHOTS=1).
func takeScreenshot(t *testing.T, g *gateway, tb *tab, pageURL string) {
	t.Helper()
	for _, d := range []string{"nightly build", "deploy staging"} {
		tr := g.addTrigger(t, addOpts{Project: "9", Description: d, Owner: "alice"})
		g.post(t, "/api/v4/projects/9/trigger/pipeline", urlencoded("token", tr.Token, "ref", "main"))
	}
	g.addTrigger(t, addOpts{Project: "group/docs", Description: "publish docs", Owner: "bob", ExpiresAt: "2030-01-31"})
	g.addTrigger(t, addOpts{Project: "9", Description: "legacy script"})
	time.Sleep(time.Second) // a usage flush
	tb.run(chromedp.EmulateViewport(1100, 560))
	tb.open(pageURL, "")
	png := value(tb, chromedp.FullScreenshot(100))
	path := filepath.Join("..", "docs", "triggers-page.png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("wrote %s", path)
}
