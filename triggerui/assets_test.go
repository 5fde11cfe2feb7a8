package triggerui

import (
	"io/fs"
	"regexp"
	"strings"
	"testing"
)

// The page must load nothing from another host, keep tokens out of browser
// storage, and run under its Content-Security-Policy: no inline script,
// style or event handler.
func TestAssetsStayOnTheirOrigin(t *testing.T) {
	external := regexp.MustCompile(`(?i)(src|href|action|url)\s*[=(]\s*["']?\s*(https?:)?//`)
	forbidden := map[string]*regexp.Regexp{
		"browser storage":      regexp.MustCompile(`localStorage|sessionStorage|indexedDB|document\.cookie`),
		"inline event handler": regexp.MustCompile(`(?i)<[^>]+\son[a-z]+\s*=`),
		"inline style":         regexp.MustCompile(`(?i)<style|\sstyle\s*=`),
		"inline script":        regexp.MustCompile(`(?i)<script(?:\s+type="module")?>`),
		"HTML from strings":    regexp.MustCompile(`innerHTML|outerHTML|insertAdjacentHTML|document\.write`),
		"code from strings":    regexp.MustCompile(`\beval\(|new Function\(`),
	}
	err := fs.WalkDir(assets, "assets", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := assets.ReadFile(path)
		if err != nil {
			return err
		}
		text := string(data)
		if m := external.FindString(text); m != "" {
			t.Errorf("%s refers to another host: %s", path, m)
		}
		for what, re := range forbidden {
			if m := re.FindString(text); m != "" {
				t.Errorf("%s: %s: %s", path, what, m)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for rel := range pageAssets {
		if _, err := assets.ReadFile(pageAssets[rel].file); err != nil {
			t.Errorf("%q: %v", rel, err)
		}
	}
	page, _ := assets.ReadFile("assets/index.html")
	for _, want := range []string{`<script type="module" src="app.js">`, `<link rel="stylesheet" href="style.css" crossorigin="anonymous">`} {
		// Caddy's admin endpoint refuses a browser's no-cors requests, which
		// a classic script or a stylesheet without crossorigin would be.
		if !strings.Contains(string(page), want) {
			t.Errorf("index.html lacks %s", want)
		}
	}
}
