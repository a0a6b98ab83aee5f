package handlers

import (
	"bytes"
	"encoding/json"
	"flag"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"

	"github.com/concertmaster/concertmaster/handlers/api"
)

// editorOpenAPIPath is the copy of the OpenAPI document the canvas editor generates its API types from
// (static/editor: `npm run gen:api` writes src/generated/openapi.ts from it).
const editorOpenAPIPath = "../static/editor/src/generated/openapi.json"

var updateEditorOpenAPI = flag.Bool("update-editor-openapi", false,
	"write "+editorOpenAPIPath+" from the served document instead of comparing them (make assets)")

// TestOpenAPIDocumentOfTheEditor keeps the editor's copy of the OpenAPI document equal to the one the server serves,
// so that the editor's generated types cannot drift from the API; static/dist_test.go checks the types against the
// copy. `make assets` runs it with -update-editor-openapi to write the copy. It needs no database: the document
// comes from the route table alone.
func TestOpenAPIDocumentOfTheEditor(t *testing.T) {
	t.Parallel()
	srv := bareServer(t)
	rec := httptest.NewRecorder()
	srv.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/api/openapi.json", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("/api/openapi.json: %d %s", rec.Code, rec.Body)
	}
	want, err := editorOpenAPI(rec.Body.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if *updateEditorOpenAPI {
		if err := os.WriteFile(editorOpenAPIPath, want, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	got, err := os.ReadFile(editorOpenAPIPath)
	if err != nil || !bytes.Equal(got, want) {
		t.Errorf("%s is not the served document (%v): run `make assets` and commit static/editor/src/generated",
			editorOpenAPIPath, err)
	}
}

// editorOpenAPI is the served document with its references to the workflow definition's schema, which is served
// apart (api.DefinitionSchemaPath) and which a generator reading a file cannot follow, replaced by a plain object:
// the editor keeps its own type of a definition.
func editorOpenAPI(served []byte) ([]byte, error) {
	var doc any
	if err := json.Unmarshal(served, &doc); err != nil {
		return nil, err
	}
	var inline func(v any) any
	inline = func(v any) any {
		switch v := v.(type) {
		case map[string]any:
			if len(v) == 1 && v["$ref"] == api.DefinitionSchemaPath {
				return map[string]any{"type": "object",
					"description": "A workflow definition; its JSON Schema is " + api.DefinitionSchemaPath + "."}
			}
			for k, e := range v {
				v[k] = inline(e)
			}
		case []any:
			for i, e := range v {
				v[i] = inline(e)
			}
		}
		return v
	}
	out, err := json.MarshalIndent(inline(doc), "", "  ")
	return append(out, '\n'), err
}
