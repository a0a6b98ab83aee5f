package httpx

import (
	"bytes"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/concertmaster/concertmaster/static"
	"github.com/concertmaster/concertmaster/static/statictest"
)

// TestStaticAssetsManifestMatchesDist checks the embedded build: the manifest names the canvas and stylesheet
// entries, every file it names is there with a .gz and a .br twin, and dist holds nothing else.
func TestStaticAssetsManifestMatchesDist(t *testing.T) {
	t.Parallel()
	m := statictest.Manifest(t)
	listed := map[string]bool{"manifest.json": true}
	for _, src := range []string{"src/main.tsx", "styles/app.css"} {
		if c, ok := m[src]; !ok || !c.IsEntry {
			t.Errorf("the manifest has no entry %s: %+v", src, m)
		}
	}
	for _, c := range m {
		for _, file := range append(append([]string{c.File}, c.CSS...), c.Assets...) {
			listed[file], listed[file+".gz"], listed[file+".br"] = true, true, true
		}
	}
	entries, err := fs.ReadDir(static.FS, "dist")
	if err != nil {
		t.Fatal(err)
	}
	var present []string
	for _, e := range entries {
		present = append(present, e.Name())
		if !listed[e.Name()] {
			t.Errorf("dist/%s is in no manifest entry: run `make assets`", e.Name())
		}
	}
	for name := range listed {
		if !slices.Contains(present, name) {
			t.Errorf("dist/%s is missing: run `make assets`", name)
		}
	}
	a, err := loadAssets(static.FS)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"dist/editor.js", "dist/editor.css", "dist/app.css"} {
		u := a.url(name)
		if u == "/static/"+name || a.files[strings.TrimPrefix(u, "/static/")] == nil {
			t.Errorf("%s resolves to %s, not a built file", name, u)
		}
	}
}

// TestStaticAssetsServing sends real requests for the canvas bundle, htmx and unknown names, and checks the
// encoding chosen, the bytes, and the caching headers.
func TestStaticAssetsServing(t *testing.T) {
	t.Parallel()
	ts := httptest.NewServer(assetsServer(t))
	t.Cleanup(ts.Close)
	bundle := "dist/" + statictest.Manifest(t)["src/main.tsx"].File
	htmx := statictest.File(t, "js/htmx.min.js")
	htmxStamp := statictest.Stamp(htmx)

	get := func(t *testing.T, target string, header http.Header) (*http.Response, []byte) {
		t.Helper()
		req, err := http.NewRequest(http.MethodGet, ts.URL+target, nil)
		if err != nil {
			t.Fatal(err)
		}
		// Set explicitly (even empty), so that the client neither asks for gzip nor decodes it.
		req.Header.Set("Accept-Encoding", "")
		for k, v := range header {
			req.Header[k] = v
		}
		resp, err := http.DefaultTransport.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp, body
	}

	for _, tc := range []struct {
		name, path, accept string
		wantEncoding       string
		// wantFile is the embedded file whose bytes the answer carries.
		wantFile     string
		wantCache    string
		wantVary     bool
		wantLengthOf bool
	}{
		{"brotli first", "/static/" + bundle, "gzip, deflate, br, zstd", "br", bundle + ".br", immutableCache, true, true},
		{"gzip alone", "/static/" + bundle, "gzip", "gzip", bundle + ".gz", immutableCache, true, true},
		{"gzip preferred by q", "/static/" + bundle, "br;q=0.5, gzip", "gzip", bundle + ".gz", immutableCache, true, true},
		{"brotli refused", "/static/" + bundle, "br;q=0, gzip;q=0.1", "gzip", bundle + ".gz", immutableCache, true, true},
		{"any coding", "/static/" + bundle, "*", "br", bundle + ".br", immutableCache, true, true},
		{"no coding", "/static/" + bundle, "", "", bundle, immutableCache, true, true},
		{"identity only", "/static/" + bundle, "identity, gzip;q=0", "", bundle, immutableCache, true, true},
		{"stamped htmx", "/static/js/htmx.min.js?v=" + htmxStamp, "gzip, br", "", "js/htmx.min.js", immutableCache, false, true},
		{"unstamped htmx", "/static/js/htmx.min.js", "gzip, br", "", "js/htmx.min.js", shortCache, false, true},
		{"stale stamp", "/static/js/htmx.min.js?v=0123456789abcdef", "", "", "js/htmx.min.js", shortCache, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			resp, body := get(t, tc.path, http.Header{"Accept-Encoding": {tc.accept}})
			want := statictest.File(t, tc.wantFile)
			if resp.StatusCode != http.StatusOK || !bytes.Equal(body, want) {
				t.Fatalf("%d, %d bytes; want 200 and the %d bytes of %s", resp.StatusCode, len(body), len(want), tc.wantFile)
			}
			if got := resp.Header.Get("Content-Encoding"); got != tc.wantEncoding {
				t.Errorf("Content-Encoding %q, want %q", got, tc.wantEncoding)
			}
			if got := resp.Header.Get("Cache-Control"); got != tc.wantCache {
				t.Errorf("Cache-Control %q, want %q", got, tc.wantCache)
			}
			if got := slices.Contains(resp.Header.Values("Vary"), "Accept-Encoding"); got != tc.wantVary {
				t.Errorf("Vary %q", resp.Header.Values("Vary"))
			}
			if resp.ContentLength != int64(len(want)) {
				t.Errorf("Content-Length %d, want %d", resp.ContentLength, len(want))
			}
			ct := resp.Header.Get("Content-Type")
			if !strings.Contains(ct, "javascript") {
				t.Errorf("Content-Type %q", ct)
			}
			etag := resp.Header.Get("ETag")
			if etag == "" {
				t.Fatal("no ETag")
			}
			again, body := get(t, tc.path, http.Header{"Accept-Encoding": {tc.accept}, "If-None-Match": {etag}})
			if again.StatusCode != http.StatusNotModified || len(body) != 0 {
				t.Errorf("If-None-Match %s: %d, %d bytes", etag, again.StatusCode, len(body))
			}
		})
	}

	t.Run("each encoding has its own ETag", func(t *testing.T) {
		t.Parallel()
		tags := map[string]bool{}
		for _, accept := range []string{"br", "gzip", ""} {
			resp, _ := get(t, "/static/"+bundle, http.Header{"Accept-Encoding": {accept}})
			tags[resp.Header.Get("ETag")] = true
		}
		if len(tags) != 3 {
			t.Errorf("ETags %v", tags)
		}
	})

	t.Run("HEAD", func(t *testing.T) {
		t.Parallel()
		req, _ := http.NewRequest(http.MethodHead, ts.URL+"/static/"+bundle, nil)
		req.Header.Set("Accept-Encoding", "br")
		resp, err := http.DefaultTransport.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Encoding") != "br" ||
			resp.ContentLength != int64(len(statictest.File(t, bundle+".br"))) {
			t.Errorf("HEAD: %d %v", resp.StatusCode, resp.Header)
		}
	})

	t.Run("stylesheets", func(t *testing.T) {
		t.Parallel()
		a, err := loadAssets(static.FS)
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range []string{"dist/app.css", "dist/editor.css", "css/apidocs/swagger-ui.css"} {
			resp, body := get(t, a.url(name), nil)
			if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/css") ||
				resp.Header.Get("Cache-Control") != immutableCache || len(body) == 0 {
				t.Errorf("%s (%s): %d %v", name, a.url(name), resp.StatusCode, resp.Header)
			}
		}
	})

	for _, target := range []string{"/static/dist/editor.js", "/static/no-such.js", "/static/js/", "/static/js/htmx.min.js.gz"} {
		t.Run("unknown "+target, func(t *testing.T) {
			t.Parallel()
			resp, _ := get(t, target, nil)
			if resp.StatusCode != http.StatusNotFound || resp.Header.Get("Cache-Control") != shortCache {
				t.Errorf("%s: %d, Cache-Control %q", target, resp.StatusCode, resp.Header.Get("Cache-Control"))
			}
		})
	}
}

// TestStaticAssetsAcceptEncoding covers the header's parsing on its own.
func TestStaticAssetsAcceptEncoding(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		accept       string
		brotli, gzip bool
		want         string
	}{
		{"gzip, deflate, br", true, true, "br"},
		{"gzip, deflate, br", false, true, "gzip"},
		{"gzip, deflate, br", false, false, ""},
		{"GZIP;Q=0.8, BR;q=0.9", true, true, "br"},
		{"gzip;q=1.0, br;q=0.9", true, true, "gzip"},
		{"br;q=0", true, true, ""},
		{"*;q=0.5, br;q=0", true, true, "gzip"},
		{"deflate", true, true, ""},
		{"", true, true, ""},
		{"br;q=oops, gzip", true, true, "gzip"},
	} {
		if got := preferredEncoding(tc.accept, tc.brotli, tc.gzip); got != tc.want {
			t.Errorf("%q (br %v, gzip %v): %q, want %q", tc.accept, tc.brotli, tc.gzip, got, tc.want)
		}
	}
}

// assetsServer routes GET /static/ to the embedded assets, as the server's route table does.
func assetsServer(t *testing.T) http.Handler {
	t.Helper()
	a, err := loadAssets(static.FS)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /static/", a)
	return mux
}
