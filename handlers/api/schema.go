package api

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"sync"
	"time"
)

// DefinitionSchemaPath is where the workflow definition's JSON Schema is served; the OpenAPI document's definition
// properties refer to it, so it must not move.
const DefinitionSchemaPath = "/api/v1/schemas/workflow-definition.json"

// schemaRouteDescriptions describes the workflow definition's JSON Schema route.
func schemaRouteDescriptions() map[string]apiRoute {
	return map[string]apiRoute{
		"GET " + DefinitionSchemaPath: {Tag: tagWorkflows, Public: true,
			Summary: "The JSON Schema of a workflow definition",
			Description: "A JSON Schema (draft 2020-12) generated from the registered node types, each node's config " +
				"checked against its type's schema, for editors to validate and autocomplete a definition. Every " +
				"definition POST /api/v1/workflows/validate accepts matches it; what a schema cannot express (one " +
				"trigger, edges between existing nodes and ports, no cycles) only the API checks. Public and the " +
				"same for everyone; revalidate with If-None-Match.",
			Responses: []apiResponse{
				{Status: http.StatusOK, Description: "The schema.", Body: json.RawMessage{},
					ContentType: "application/schema+json",
					Headers:     map[string]string{"ETag": "The schema's digest, for If-None-Match."}},
				{Status: http.StatusNotModified, Description: "The schema has not changed since the ETag sent."},
			}},
	}
}

// definitionSchemaHandler serves the schema. It holds no organization's data, so it is public (an editor fetches it
// by URL, without credentials) and cacheable: the ETag is the schema's digest, which changes only when the node
// types do, with a new build.
func (s *Handlers) definitionSchemaHandler() http.Handler {
	load := sync.OnceValues(func() ([]byte, error) { return s.deps.Registry.DefinitionSchema() })
	etag := sync.OnceValue(func() string {
		b, _ := load()
		sum := sha256.Sum256(b)
		return `"` + hex.EncodeToString(sum[:16]) + `"`
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := load()
		if err != nil {
			s.Problem(w, r, err)
			return
		}
		w.Header().Set("Content-Type", "application/schema+json")
		// no-cache: keep it, but ask (cheaply, with the ETag) before using it, so a new node type shows at once.
		w.Header().Set("Cache-Control", "public, no-cache")
		w.Header().Set("ETag", etag())
		// ServeContent answers If-None-Match with 304. Ranges of a schema serve no one and would be an answer the
		// OpenAPI document does not describe.
		r.Header.Del("Range")
		http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(body))
	})
}
