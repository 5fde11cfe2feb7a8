package integration

import (
	"context"
	"encoding/base64"
	"errors"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
)

// browser is a headless Chromium driven over the DevTools protocol, for
// the tests of the Triggers page. Every tab records the URL of every
// request it makes, so a test can assert that none leaves the page's origin.
type browser struct {
	t     *testing.T
	alloc context.Context
	root  context.Context
}

// chromiumPath finds the browser: $CHROMIUM, else chromium or
// chromium-browser on PATH. The tests of the page fail without one: .ci/run
// installs Debian's chromium.
func chromiumPath(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Fatal("no Chromium found: install Debian's chromium (apt-get install chromium) or set $CHROMIUM")
	return ""
}

// newBrowser starts a headless Chromium with a throwaway profile; it is
// closed when t ends.
func newBrowser(t *testing.T) *browser {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromiumPath(t)),
		chromedp.Headless,
		chromedp.NoSandbox, // the test machine runs as root
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-component-update", true),
	)
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	root, cancelRoot := chromedp.NewContext(alloc)
	t.Cleanup(func() { cancelRoot(); cancelAlloc() })
	if err := chromedp.Do(root); err != nil {
		t.Fatalf("starting Chromium: %v", err)
	}
	return &browser{t: t, alloc: alloc, root: root}
}

// tab is one browser tab, with the requests it made.
type tab struct {
	t   *testing.T
	ctx context.Context

	mu   sync.Mutex
	urls []string
}

// newTab opens a tab that sends the given basic-auth user (none for "")
// with every request, as a browser does once its user has logged in.
func (b *browser) newTab(user, password string) *tab {
	b.t.Helper()
	ctx, cancel := chromedp.NewContext(b.root)
	b.t.Cleanup(cancel)
	tb := &tab{t: b.t, ctx: ctx}
	if err := chromedp.Listen(ctx, func(ev any) {
		if e, ok := ev.(*network.EventRequestWillBeSent); ok {
			tb.mu.Lock()
			tb.urls = append(tb.urls, e.Request.URL)
			tb.mu.Unlock()
		}
	}); err != nil {
		b.t.Fatalf("opening a tab: %v", err)
	}
	tb.run(chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		if _, err := chromedp.Call(ctx, network.Enable, network.EnableParams{}); err != nil {
			return err
		}
		if user == "" {
			return nil
		}
		auth := "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+password))
		_, err := chromedp.Call(ctx, network.SetExtraHTTPHeaders, network.SetExtraHTTPHeadersParams{
			Headers: network.Headers{"Authorization": auth},
		})
		return err
	}))
	return tb
}

// run runs actions in the tab within 30 seconds.
func (tb *tab) run(actions ...chromedp.Action[chromedp.Void]) {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		tb.t.Fatalf("browser: %v", err)
	}
}

// value runs an action that returns a value, within 30 seconds.
func value[T any](tb *tab, action chromedp.Action[T]) T {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, 30*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, action)
	if err != nil {
		tb.t.Fatalf("browser: %v", err)
	}
	return v
}

// navigate loads url; referrer, when set, is sent as a link from that page
// would send it.
func (tb *tab) navigate(url, referrer string) {
	tb.t.Helper()
	tb.run(chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		res, err := chromedp.Call(ctx, page.Navigate, page.NavigateParams{URL: url, Referrer: referrer})
		if err == nil && res.ErrorText != "" {
			err = errors.New(res.ErrorText)
		}
		return err
	}))
}

// open loads the Triggers page and waits for it to show its list.
func (tb *tab) open(url, referrer string) {
	tb.t.Helper()
	tb.navigate(url, referrer)
	tb.run(chromedp.WaitVisible(chromedp.CSS(`body[data-loaded="true"]`)))
}

// eval evaluates a JavaScript expression.
func eval[T any](tb *tab, expr string, opts ...chromedp.EvaluateOption) T {
	tb.t.Helper()
	return value(tb, chromedp.Evaluate[T](expr, opts...))
}

// requested returns the URLs the tab requested so far.
func (tb *tab) requested() []string {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	return append([]string(nil), tb.urls...)
}

// assertOnlyOrigin fails if the tab requested anything from another host.
func (tb *tab) assertOnlyOrigin(origin string) {
	tb.t.Helper()
	urls := tb.requested()
	if len(urls) == 0 {
		tb.t.Fatal("no request recorded: the network log is not working")
	}
	for _, u := range urls {
		// data: URLs (Chromium's own icon of a date field) never leave the machine.
		if !strings.HasPrefix(u, origin+"/") && !strings.HasPrefix(u, "data:") {
			tb.t.Errorf("the page requested %s, outside %s", u, origin)
		}
	}
}
