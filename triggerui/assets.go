package triggerui

import (
	"embed"
	"net/http"
)

//go:embed assets/index.html assets/app.js assets/style.css
var assets embed.FS

// pageAssets maps the paths the page is served under to its embedded
// files and their types.
var pageAssets = map[string]struct{ file, contentType string }{
	"":           {"assets/index.html", "text/html; charset=utf-8"},
	"index.html": {"assets/index.html", "text/html; charset=utf-8"},
	"app.js":     {"assets/app.js", "text/javascript; charset=utf-8"},
	"style.css":  {"assets/style.css", "text/css; charset=utf-8"},
}

// serveAsset answers the page or one of its files.
func serveAsset(w http.ResponseWriter, r *http.Request, rel string) {
	asset, ok := pageAssets[rel]
	if !ok {
		writeError(w, errNotFound)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		writeError(w, errMethod)
		return
	}
	body, err := assets.ReadFile(asset.file)
	if err != nil { // embedded: cannot happen
		writeError(w, errInternal)
		return
	}
	w.Header().Set("Content-Type", asset.contentType)
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodGet {
		_, _ = w.Write(body)
	}
}
