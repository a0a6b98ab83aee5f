// Package statictest reads the embedded static files the way a test must: independently of the server code that
// serves them, so that a test compares what the server answers with what the build produced.
package statictest

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io/fs"
	"testing"

	"github.com/concertmaster/concertmaster/static"
)

// Chunk is one entry of the Vite manifest: the file it built and the files that come with it.
type Chunk struct {
	File    string   `json:"file"`
	IsEntry bool     `json:"isEntry"`
	CSS     []string `json:"css"`
	Assets  []string `json:"assets"`
}

// Manifest returns dist/manifest.json, keyed by source path.
func Manifest(t testing.TB) map[string]Chunk {
	t.Helper()
	var m map[string]Chunk
	if err := json.Unmarshal(File(t, "dist/manifest.json"), &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// File returns an embedded file's bytes.
func File(t testing.TB, name string) []byte {
	t.Helper()
	b, err := fs.ReadFile(static.FS, name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Stamp is the version stamp (?v=) of a file that is not named by its content: its SHA-256's first 8 bytes in hex.
func Stamp(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:8])
}
