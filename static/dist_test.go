package static

import (
	"bytes"
	"compress/gzip"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestDistIsBuiltFromEditor rebuilds the assets from editor/ into a temporary folder and compares them byte for
// byte with the committed dist/, so a change to the canvas or the stylesheet sources cannot land without its build.
func TestDistIsBuiltFromEditor(t *testing.T) {
	if _, err := os.Stat("editor/node_modules"); err != nil {
		t.Fatal("editor/node_modules is missing: run `make assets` (or deploy/dev/browser-env.sh) first")
	}
	out := t.TempDir()
	for _, args := range [][]string{
		{"tailwindcss", "-i", "styles/app.css", "-o", filepath.Join(out, "app.css"), "--minify"},
		{"vite", "build", "--logLevel", "warn", "--outDir", out},
	} {
		cmd := exec.Command(filepath.Join("node_modules", ".bin", args[0]), args[1:]...)
		cmd.Dir = "editor"
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%v: %v\n%s", args, err, b)
		}
	}
	built, err := os.ReadDir(out)
	if err != nil {
		t.Fatal(err)
	}
	committed, err := os.ReadDir("dist")
	if err != nil {
		t.Fatal(err)
	}
	if len(built) != len(committed) {
		t.Errorf("dist holds %d files, a fresh build %d: run `make assets` and commit static/dist", len(committed), len(built))
	}
	for _, f := range built {
		want, err := os.ReadFile(filepath.Join(out, f.Name()))
		if err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(filepath.Join("dist", f.Name()))
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("dist/%s is stale: run `make assets` and commit static/dist", f.Name())
		}
	}
}

// BenchmarkEditorBundleSize reports the canvas bundle's size as the browser downloads it, gzipped; the aim is
// under 200 KB.
func BenchmarkEditorBundleSize(b *testing.B) {
	js, err := FS.ReadFile("dist/editor.js")
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
	b.ReportMetric(float64(len(js))/1024, "raw-KB")
}
