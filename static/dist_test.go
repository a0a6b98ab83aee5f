package static

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestDistIsBuiltFromEditor rebuilds the assets from editor/ into a temporary folder and compares them with the
// committed dist/, so a change to the canvas or the stylesheet sources cannot land without its build: the same
// file names (the hashes in them included) and manifest, the same bytes, and precompressed twins that decode to
// their file (their own bytes may differ between zlib versions). It also checks the editor's generated API types
// against the copy of the OpenAPI document they come from (handlers/openapi_editor_test.go checks that copy).
func TestDistIsBuiltFromEditor(t *testing.T) {
	if _, err := os.Stat("editor/node_modules"); err != nil {
		t.Fatal("editor/node_modules is missing: run `make assets` (or deploy/dev/browser-env.sh) first")
	}
	out := t.TempDir()
	types := filepath.Join(t.TempDir(), "openapi.ts")
	for _, args := range [][]string{
		{"node_modules/.bin/vite", "build", "--logLevel", "warn", "--outDir", out, "--emptyOutDir"},
		{"node", "scripts/precompress.mjs", out},
		{"node_modules/.bin/openapi-typescript", "src/generated/openapi.json", "-o", types},
	} {
		cmd := exec.Command(args[0], args[1:]...)
		cmd.Dir = "editor"
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%v: %v\n%s", args, err, b)
		}
	}
	built, committed := fileNames(t, out), fileNames(t, "dist")
	if !slices.Equal(built, committed) {
		t.Errorf("dist holds %v, a fresh build %v: run `make assets` and commit static/dist", committed, built)
	}
	for _, name := range built {
		if twin(name) {
			continue
		}
		want, err := os.ReadFile(filepath.Join(out, name))
		if err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(filepath.Join("dist", name))
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("dist/%s is stale: run `make assets` and commit static/dist", name)
		}
	}
	for _, name := range committed {
		if !twin(name) {
			continue
		}
		file := strings.TrimSuffix(strings.TrimSuffix(name, ".gz"), ".br")
		want, err := os.ReadFile(filepath.Join("dist", file))
		if err != nil {
			t.Errorf("dist/%s has no dist/%s", name, file)
			continue
		}
		if got := decompress(t, filepath.Join("dist", name)); !bytes.Equal(got, want) {
			t.Errorf("dist/%s does not decode to dist/%s: run `make assets` and commit static/dist", name, file)
		}
	}
	want, err := os.ReadFile(types)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := os.ReadFile("editor/src/generated/openapi.ts"); err != nil || !bytes.Equal(got, want) {
		t.Error("editor/src/generated/openapi.ts is not generated from openapi.json: run `make assets` and commit it")
	}
}

// fileNames lists a folder's files, sorted.
func fileNames(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	slices.Sort(names)
	return names
}

// twin reports whether name is a precompressed copy of another file.
func twin(name string) bool { return strings.HasSuffix(name, ".gz") || strings.HasSuffix(name, ".br") }

// decompress decodes a .gz file with Go and a .br file with Node's zlib (the standard library has no brotli).
func decompress(t *testing.T, name string) []byte {
	t.Helper()
	if strings.HasSuffix(name, ".br") {
		b, err := exec.Command("node", "-e",
			`process.stdout.write(require("node:zlib").brotliDecompressSync(require("node:fs").readFileSync(process.argv[1])))`,
			name).Output()
		if err != nil {
			t.Fatalf("brotli-decode %s: %v", name, err)
		}
		return b
	}
	f, err := os.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := gzip.NewReader(f)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return b
}

// BenchmarkEditorBundleSize reports the canvas bundle's size as built and as the browser downloads it: gzipped
// (compressed here, at the level of the committed twin) and brotli (the committed twin); the aim is under 200 KB
// gzipped.
func BenchmarkEditorBundleSize(b *testing.B) {
	raw, err := FS.ReadFile("dist/manifest.json")
	if err != nil {
		b.Fatal(err)
	}
	var manifest map[string]struct{ File string }
	if err := json.Unmarshal(raw, &manifest); err != nil {
		b.Fatal(err)
	}
	name := "dist/" + manifest["src/main.tsx"].File
	js, err := FS.ReadFile(name)
	if err != nil {
		b.Fatal(err)
	}
	br, err := FS.ReadFile(name + ".br")
	if err != nil {
		b.Fatal(err)
	}
	var gz bytes.Buffer
	for b.Loop() {
		gz.Reset()
		w, _ := gzip.NewWriterLevel(&gz, gzip.BestCompression)
		w.Write(js)
		w.Close()
	}
	b.ReportMetric(float64(gz.Len())/1024, "gzip-KB")
	b.ReportMetric(float64(len(br))/1024, "brotli-KB")
	b.ReportMetric(float64(len(js))/1024, "raw-KB")
}
