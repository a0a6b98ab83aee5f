package httpx

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strconv"
	"strings"
	"time"
)

// Cache lifetimes of the files under /static/. A URL that names a file's content (a name hashed by the build, or a
// ?v= stamp equal to the file's hash) never changes meaning, so browsers keep it for good; anything else may change
// with the next binary and is kept briefly, then revalidated with its ETag.
const (
	immutableCache = "public, max-age=31536000, immutable"
	shortCache     = "public, max-age=300"
)

// manifestPath is the Vite build's manifest in the embedded files (static/editor/vite.config.ts writes it).
const manifestPath = "dist/manifest.json"

// assets serves the embedded files under /static/ and gives pages their URLs. It is built once at start from the
// files: each file's content hash, the Vite manifest's map from entry names to hashed file names, and which files
// have a precompressed twin (NAME.gz, NAME.br, written by static/editor/scripts/precompress.mjs).
type assets struct {
	fsys fs.FS
	// files holds every servable file by its path under /static/; the .gz and .br twins are not among them.
	files map[string]*assetFile
	// urls maps a logical name (the path the file would have without a hash: "dist/editor.js") to its URL, for the
	// files the Vite build names.
	urls map[string]string
}

// assetFile is what the handler knows of one file.
type assetFile struct {
	// hash is a digest of the content: the ETag, and the ?v= stamp of files whose name carries none.
	hash string
	// hashedName is set for the files the Vite build names after their content.
	hashedName  bool
	contentType string
	// gzip and brotli say that NAME.gz and NAME.br exist.
	gzip, brotli bool
}

// viteChunk is one entry of the Vite manifest: the fields that name files.
type viteChunk struct {
	File    string   `json:"file"`
	Name    string   `json:"name"`
	IsEntry bool     `json:"isEntry"`
	CSS     []string `json:"css"`
	Assets  []string `json:"assets"`
}

// loadAssets reads fsys (static.FS in production) once: it hashes every file and resolves the Vite manifest.
func loadAssets(fsys fs.FS) (*assets, error) {
	a := &assets{fsys: fsys, files: map[string]*assetFile{}, urls: map[string]string{}}
	err := fs.WalkDir(fsys, ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || strings.HasSuffix(name, ".gz") || strings.HasSuffix(name, ".br") {
			return err
		}
		sum, err := digest(fsys, name)
		if err != nil {
			return err
		}
		f := &assetFile{hash: sum, contentType: mime.TypeByExtension(path.Ext(name))}
		_, gzErr := fs.Stat(fsys, name+".gz")
		_, brErr := fs.Stat(fsys, name+".br")
		f.gzip, f.brotli = gzErr == nil, brErr == nil
		a.files[name] = f
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("static assets: %w", err)
	}
	raw, err := fs.ReadFile(fsys, manifestPath)
	if err != nil {
		return nil, fmt.Errorf("static assets: %w (run `make assets`)", err)
	}
	var manifest map[string]viteChunk
	if err := json.Unmarshal(raw, &manifest); err != nil {
		return nil, fmt.Errorf("static assets: %s: %w", manifestPath, err)
	}
	dir := path.Dir(manifestPath)
	for src, c := range manifest {
		for _, file := range append(append([]string{c.File}, c.CSS...), c.Assets...) {
			f := a.files[path.Join(dir, file)]
			if f == nil {
				return nil, fmt.Errorf("static assets: %s names %s, which is not built", manifestPath, file)
			}
			f.hashedName = true
		}
		if !c.IsEntry {
			continue
		}
		// An entry's logical names are its name with the extensions of its files: the editor entry gives
		// dist/editor.js and dist/editor.css, the stylesheet entry dist/app.css.
		if len(c.CSS) > 1 {
			return nil, fmt.Errorf("static assets: entry %s has %d stylesheets; one name cannot tell them apart", src, len(c.CSS))
		}
		for _, file := range append([]string{c.File}, c.CSS...) {
			logical := path.Join(dir, c.Name+path.Ext(file))
			if _, dup := a.urls[logical]; dup {
				return nil, fmt.Errorf("static assets: two entries of %s are named %s", manifestPath, logical)
			}
			a.urls[logical] = "/static/" + path.Join(dir, file)
		}
	}
	return a, nil
}

// digest is the first 16 hex digits of the file's SHA-256: enough to tell builds apart.
func digest(fsys fs.FS, name string) (string, error) {
	f, err := fsys.Open(name)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)[:8]), nil
}

// url is the URL of an asset by its logical name, its path under /static/ as if nothing were hashed
// ("dist/editor.js", "js/htmx.min.js"). Vite's entries resolve through the manifest; other files get their hash as
// a ?v= stamp. An unknown name keeps its plain path (which answers 404), so a mistyped name shows in the page tests.
func (a *assets) url(name string) string {
	if u, ok := a.urls[name]; ok {
		return u
	}
	if f, ok := a.files[name]; ok && !f.hashedName {
		return "/static/" + name + "?v=" + f.hash
	}
	return "/static/" + name
}

// ServeHTTP serves GET /static/{name}: the precompressed twin the request accepts (brotli before gzip) with
// Content-Encoding, else the file itself; an ETag for revalidation; and a year's immutable cache for a URL that
// names the content, five minutes for any other.
func (a *assets) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	name := strings.TrimPrefix(r.URL.Path, "/static/")
	f, ok := a.files[name]
	if !ok {
		h.Set("Cache-Control", shortCache)
		http.NotFound(w, r)
		return
	}
	if f.hashedName || r.URL.Query().Get("v") == f.hash {
		h.Set("Cache-Control", immutableCache)
	} else {
		h.Set("Cache-Control", shortCache)
	}
	served, encoding, etag := name, "", f.hash
	if f.gzip || f.brotli {
		h.Add("Vary", "Accept-Encoding")
		switch encoding = preferredEncoding(r.Header.Get("Accept-Encoding"), f.brotli, f.gzip); encoding {
		case "br":
			served, etag = name+".br", etag+"-br"
		case "gzip":
			served, etag = name+".gz", etag+"-gz"
		}
	}
	file, err := a.fsys.Open(served)
	if err != nil {
		http.Error(w, "asset unreadable", http.StatusInternalServerError)
		return
	}
	defer file.Close()
	content, ok := file.(io.ReadSeeker)
	if !ok {
		http.Error(w, "asset unreadable", http.StatusInternalServerError)
		return
	}
	if f.contentType != "" {
		// Left unset for names without a known extension (the licence files): ServeContent sniffs them.
		h.Set("Content-Type", f.contentType)
	}
	h.Set("ETag", `"`+etag+`"`)
	if encoding != "" {
		h.Set("Content-Encoding", encoding)
		// ServeContent leaves Content-Length out of encoded answers in case a wrapper compresses what it writes;
		// nothing does here, so the length is set, and ranges, which serve no one for a compressed file, dropped.
		if st, err := file.Stat(); err == nil {
			h.Set("Content-Length", strconv.FormatInt(st.Size(), 10))
		}
		r.Header.Del("Range")
	}
	http.ServeContent(w, r, "", time.Time{}, content)
}

// preferredEncoding picks the twin to send for an Accept-Encoding header: the coding with the highest q-value
// among those there are (brotli on a tie: it is the smaller), "" for the file itself.
func preferredEncoding(accept string, brotli, gzip bool) string {
	qBr, qGzip := -1.0, -1.0
	if brotli {
		qBr = acceptQ(accept, "br")
	}
	if gzip {
		qGzip = acceptQ(accept, "gzip")
	}
	switch {
	case qBr > 0 && qBr >= qGzip:
		return "br"
	case qGzip > 0:
		return "gzip"
	}
	return ""
}

// acceptQ is the q-value an Accept-Encoding header gives coding (RFC 9110, section 12.5.3): its own, else that of
// "*", else 0.
func acceptQ(accept, coding string) float64 {
	own, star := -1.0, -1.0
	for part := range strings.SplitSeq(accept, ",") {
		name, params, _ := strings.Cut(part, ";")
		q := 1.0
		for p := range strings.SplitSeq(params, ";") {
			if k, v, ok := strings.Cut(strings.TrimSpace(p), "="); ok && strings.EqualFold(k, "q") {
				parsed, err := strconv.ParseFloat(v, 64)
				if err != nil {
					parsed = 0
				}
				q = parsed
			}
		}
		switch name = strings.TrimSpace(name); {
		case strings.EqualFold(name, coding):
			own = q
		case name == "*":
			star = q
		}
	}
	switch {
	case own >= 0:
		return own
	case star >= 0:
		return star
	}
	return 0
}
