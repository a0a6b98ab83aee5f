package api

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"unicode"

	"github.com/google/uuid"

	"github.com/concertmaster/concertmaster/app"
	"github.com/concertmaster/concertmaster/engine"
	"github.com/concertmaster/concertmaster/handlers/api/reflectschema"
	"github.com/concertmaster/concertmaster/handlers/httpx"
	"github.com/concertmaster/concertmaster/platform/fault"
)

// The OpenAPI 3.1 document is generated from Go code so that it cannot drift from the handlers:
//
//   - which routes exist comes from the server's route table (httpx.Router.Routes): a description whose route is not registered is
//     left out, and the contract test (handlers/openapi_test.go) fails for an /api/v1 route without a description;
//   - every body and parameter schema is reflected from the very Go types the handlers decode and encode
//     (apiRoute.Body, apiResponse.Body), with encoding/json's rules (tags, omitempty, nil pointers as null);
//   - the contract test validates real answers of every described route against those schemas.
//
// Huma v2 would derive the same from handler signatures, but only after rewriting every handler into its shape;
// these descriptions keep the handlers as they are and describe them next to them. A route is described in one of
// the …RouteDescriptions functions that routeDescriptions gathers (openapi_*.go, schema.go), never in this file.

// apiRoute describes one API route, keyed by its pattern exactly as routes.go registers it.
type apiRoute struct {
	Summary     string
	Description string
	Tag         string
	// Public routes take no Bearer token (registered with s.publicAPI or s.handle); the others need one.
	Public bool
	// Params are the query and header parameters, and path parameters whose default (pathParamDefaults) does not
	// fit. Every {name} of the pattern is described, from here or from the defaults.
	Params []apiParam
	// Body is a value of the type the handler decodes its body into, nil when it reads none.
	Body any
	// BodyOptional marks a body the handler reads only when one is sent.
	BodyOptional bool
	// BodyContentType is the request's media type; application/json when empty.
	BodyContentType string
	// Responses lists every status the route answers with. 401 and 429 (Bearer routes), 413 and 422 (routes with
	// a body) and 500 are added when missing: the middleware and httpx.DecodeJSON answer them for every such route.
	Responses []apiResponse
}

// apiParam is one path, query or header parameter.
type apiParam struct {
	Name string
	// In is path, query or header.
	In          string
	Description string
	// Type is a value of the Go type the handler parses the parameter into ("" for a string, 0 for a number,
	// uuid.UUID{}, time.Time{} …).
	Type     any
	Required bool
	Enum     []string
}

// apiResponse is one answer of a route.
type apiResponse struct {
	Status      int
	Description string
	// Body is a value of the type the handler encodes, nil for no content.
	Body any
	// ContentType is the answer's media type: application/json when empty, application/problem+json for problems.
	ContentType string
	// Headers names response headers worth knowing (Location, ETag …) with what they carry.
	Headers map[string]string
}

// binaryBody marks a request or response body that is a file, not JSON.
type binaryBody struct{}

// routeDescriptions gathers every route description (openapi_*.go, schema.go), called explicitly when the document
// is built. A pattern described twice is a programming error, reported then.
func routeDescriptions() (map[string]apiRoute, error) {
	all := map[string]apiRoute{}
	for _, part := range []map[string]apiRoute{coreRouteDescriptions(), memberRouteDescriptions(),
		formRouteDescriptions(), schemaRouteDescriptions(), notificationRouteDescriptions(),
		flagRouteDescriptions(), sharingRouteDescriptions(), executionBulkRouteDescriptions(), nodeDataRouteDescriptions(),
		integrationKindRouteDescriptions(), retentionRouteDescriptions(), bundleRouteDescriptions(),
		templateRouteDescriptions(), payloadRouteDescriptions()} {
		for pattern, rt := range part {
			if _, dup := all[pattern]; dup {
				return nil, fmt.Errorf("openapi: route %s is described twice", pattern)
			}
			all[pattern] = rt
		}
	}
	return all, nil
}

// DescribedRoutes lists the patterns the OpenAPI document describes, for the contract test that checks each belongs
// to a registered route.
func DescribedRoutes() ([]string, error) {
	routes, err := routeDescriptions()
	return slices.Sorted(maps.Keys(routes)), err
}

// ok, created, accepted and noContent build the usual successful answers.
func ok(body any, desc string) apiResponse {
	return apiResponse{Status: http.StatusOK, Description: desc, Body: body}
}

func created(body any, desc string) apiResponse {
	return apiResponse{Status: http.StatusCreated, Description: desc, Body: body,
		Headers: map[string]string{"Location": "The URL of what was created."}}
}

func accepted(body any, desc string) apiResponse {
	return apiResponse{Status: http.StatusAccepted, Description: desc, Body: body,
		Headers: map[string]string{"Location": "The URL of the execution."}}
}

func noContent(desc string) apiResponse {
	return apiResponse{Status: http.StatusNoContent, Description: desc}
}

// problems lists error answers; each carries the Problem schema.
func problems(statuses ...int) []apiResponse {
	out := make([]apiResponse, len(statuses))
	for i, st := range statuses {
		out[i] = problemResponse(st)
	}
	return out
}

// problemDescriptions says what each error status means across the API.
var problemDescriptions = map[int]string{
	http.StatusUnauthorized:          "No valid Bearer token (or, for sign-in, wrong credentials).",
	http.StatusForbidden:             "The caller's role does not allow this.",
	http.StatusNotFound:              "No such resource in the caller's organization.",
	http.StatusConflict:              "The state moved on (a stale version, a finished execution …).",
	http.StatusRequestEntityTooLarge: "The body is over its size limit.",
	http.StatusUnprocessableEntity:   "The input is not valid; errors names each bad field (and node).",
	http.StatusTooManyRequests:       "Rate limited; Retry-After says when to try again.",
	http.StatusInternalServerError:   "A failure on the server's side; it has been logged under request_id.",
	http.StatusServiceUnavailable:    "A dependency is unavailable; try again later.",
}

func problemResponse(status int) apiResponse {
	desc := problemDescriptions[status]
	if desc == "" {
		desc = http.StatusText(status)
	}
	return apiResponse{Status: status, Description: desc, Body: httpx.ProblemBody{}, ContentType: "application/problem+json"}
}

// query and header build parameters.
func query(name string, typ any, desc string) apiParam {
	return apiParam{Name: name, In: "query", Type: typ, Description: desc}
}

// searchParam is a list's q: full-text search over what, ranked, in one page.
func searchParam(what string) apiParam {
	return query("q", "", "Full-text search of "+what+`, at most 200 characters, in web-search syntax ("a phrase", `+
		"or, -word); a last plain word also matches as a prefix. Results are ranked, best match first, in one page "+
		"(no next_cursor, and cursor is refused): add words to narrow them.")
}

func header(name, desc string) apiParam {
	return apiParam{Name: name, In: "header", Type: "", Description: desc}
}

// pathParamDefaults describes the path wildcards the API uses; a route may override one in its Params.
var pathParamDefaults = map[string]apiParam{
	"id":     {Type: uuid.UUID{}, Description: "The resource's id."},
	"number": {Type: int32(0), Description: "A version number, from 1."},
	"fileID": {Type: uuid.UUID{}, Description: "The file's id."},
	"sid":    {Type: uuid.UUID{}, Description: "The submission's id."},
	"token":  {Type: "", Description: "The webhook's token, from its URL."},
}

// Common parameters of list routes: keyset paging.
var (
	cursorParam = query("cursor", "", "The next_cursor of the previous page.")
	limitParam  = query("limit", 0, "Items per page, 1 to 500 (default 50).")
)

// openAPIHandler serves the document. It is built once, on first request rather than in routes(), so that it sees
// every route whichever order the route blocks are registered in.
func (s *Handlers) openAPIHandler(rt *httpx.Router) http.Handler {
	build := sync.OnceValues(func() ([]byte, error) {
		descriptions, err := routeDescriptions()
		if err != nil {
			return nil, err
		}
		doc, err := buildOpenAPI(rt.Routes(), descriptions, s.deps.Version)
		if err != nil {
			return nil, err
		}
		return json.MarshalIndent(doc, "", "  ")
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := build()
		if err != nil {
			s.Problem(w, r, err)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-cache")
		_, _ = w.Write(body)
	})
}

// apiDocsPage is the interactive documentation: Swagger UI (swagger-ui-dist, vendored under static/) started by a
// script file, so the page keeps the strict CSP (no inline script or style, nothing from another origin). The %s are
// the URLs of its stylesheet, bundle and start script (assets.url: paths and a hex stamp, nothing to escape).
const apiDocsPage = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>ConcertMaster API</title>
<link rel="stylesheet" href="%s">
</head>
<body>
<div id="swagger-ui" data-spec-url="/api/openapi.json"></div>
<script src="%s"></script>
<script src="%s"></script>
</body>
</html>
`

// apiDocs serves the documentation page.
func (s *Handlers) apiDocs(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_, _ = fmt.Fprintf(w, apiDocsPage, s.AssetURL("css/apidocs/swagger-ui.css"),
		s.AssetURL("js/apidocs/swagger-ui-bundle.js"), s.AssetURL("js/apidocs/init.js"))
}

// buildOpenAPI generates the document from the registered patterns and their descriptions. Descriptions of routes
// that are not registered are left out: the document describes what this binary serves.
func buildOpenAPI(patterns []string, routes map[string]apiRoute, version string) (map[string]any, error) {
	ref := newReflector()
	paths := map[string]map[string]any{}
	tags := map[string]bool{}
	for _, pattern := range patterns {
		rt, ok := routes[pattern]
		if !ok {
			continue
		}
		method, path, found := strings.Cut(pattern, " ")
		if !found {
			return nil, fmt.Errorf("openapi: route %q has no method", pattern)
		}
		op, err := operation(ref, method, path, rt)
		if err != nil {
			return nil, fmt.Errorf("openapi: route %q: %w", pattern, err)
		}
		docPath := OpenAPIPath(path)
		if paths[docPath] == nil {
			paths[docPath] = map[string]any{}
		}
		paths[docPath][strings.ToLower(method)] = op
		tags[rt.Tag] = true
	}
	var tagList []any
	for _, t := range slices.Sorted(maps.Keys(tags)) {
		tagList = append(tagList, map[string]any{"name": t})
	}
	return map[string]any{
		"openapi": "3.1.0",
		"info": map[string]any{
			"title":   "ConcertMaster API",
			"version": version,
			"description": "Everything the UI does, for scripts. Authenticate with `Authorization: Bearer <token>`: " +
				"an access token from POST /api/v1/auth/token, or a personal token from Settings → API tokens. " +
				"Errors are RFC 9457 problem documents naming the bad fields.",
		},
		"tags":     tagList,
		"security": []any{map[string]any{"bearer": []any{}}},
		"paths":    paths,
		"components": map[string]any{
			"schemas": ref.Components(),
			"securitySchemes": map[string]any{"bearer": map[string]any{"type": "http", "scheme": "bearer",
				"bearerFormat": "JWT access token or personal API token",
				"description":  "An access token from POST /api/v1/auth/token (short-lived JWT) or a personal token."}},
		},
	}, nil
}

// OpenAPIPath turns a ServeMux path into an OpenAPI one: "{name...}" becomes "{name}", "{$}" goes.
func OpenAPIPath(path string) string {
	path = strings.ReplaceAll(path, "{$}", "")
	return strings.ReplaceAll(path, "...}", "}")
}

// PathWildcards lists the {name} segments of a ServeMux path.
func PathWildcards(path string) []string {
	var names []string
	for _, seg := range strings.Split(path, "/") {
		if strings.HasPrefix(seg, "{") && strings.HasSuffix(seg, "}") && seg != "{$}" {
			names = append(names, strings.TrimSuffix(strings.Trim(seg, "{}"), "..."))
		}
	}
	return names
}

// operation builds one operation object.
func operation(ref *reflectschema.Reflector, method, path string, rt apiRoute) (map[string]any, error) {
	op := map[string]any{"summary": rt.Summary, "operationId": operationID(method, path), "tags": []string{rt.Tag}}
	if rt.Description != "" {
		op["description"] = rt.Description
	}
	if rt.Public {
		op["security"] = []any{}
	}
	given := map[string]apiParam{}
	for _, p := range rt.Params {
		given[p.In+":"+p.Name] = p
	}
	var params []any
	for _, name := range PathWildcards(path) {
		p, ok := given["path:"+name]
		if !ok {
			if p, ok = pathParamDefaults[name]; !ok {
				return nil, fmt.Errorf("path parameter %q is not described", name)
			}
		}
		p.Name, p.In, p.Required = name, "path", true
		delete(given, "path:"+name)
		params = append(params, parameter(ref, p))
	}
	for _, p := range rt.Params {
		if _, left := given[p.In+":"+p.Name]; !left {
			continue
		}
		if p.In == "path" {
			return nil, fmt.Errorf("path parameter %q is not in the pattern", p.Name)
		}
		params = append(params, parameter(ref, p))
	}
	if len(params) > 0 {
		op["parameters"] = params
	}
	if rt.Body != nil {
		ct := rt.BodyContentType
		if ct == "" {
			ct = "application/json"
		}
		op["requestBody"] = map[string]any{"required": !rt.BodyOptional,
			"content": map[string]any{ct: map[string]any{"schema": ref.Schema(reflect.TypeOf(rt.Body), true)}}}
	}
	responses := map[string]any{}
	for _, resp := range withImplicitProblems(rt) {
		key := strconv.Itoa(resp.Status)
		if _, dup := responses[key]; dup {
			return nil, fmt.Errorf("status %d is described twice", resp.Status)
		}
		out := map[string]any{"description": resp.Description}
		if resp.Description == "" {
			out["description"] = http.StatusText(resp.Status)
		}
		if resp.Body != nil {
			ct := resp.ContentType
			if ct == "" {
				ct = "application/json"
			}
			out["content"] = map[string]any{ct: map[string]any{"schema": ref.Schema(reflect.TypeOf(resp.Body), false)}}
		}
		if len(resp.Headers) > 0 {
			hs := map[string]any{}
			for name, desc := range resp.Headers {
				hs[name] = map[string]any{"description": desc, "schema": map[string]any{"type": "string"}}
			}
			out["headers"] = hs
		}
		responses[key] = out
	}
	op["responses"] = responses
	return op, nil
}

// withImplicitProblems adds the error answers that middleware and body decoding give every route of its kind.
func withImplicitProblems(rt apiRoute) []apiResponse {
	out := slices.Clone(rt.Responses)
	has := func(status int) bool {
		return slices.ContainsFunc(out, func(r apiResponse) bool { return r.Status == status })
	}
	var implicit []int
	if !rt.Public {
		implicit = append(implicit, http.StatusUnauthorized, http.StatusTooManyRequests)
	}
	if rt.Body != nil && reflect.TypeOf(rt.Body) != reflect.TypeFor[binaryBody]() {
		implicit = append(implicit, http.StatusRequestEntityTooLarge, http.StatusUnprocessableEntity)
	}
	implicit = append(implicit, http.StatusInternalServerError)
	for _, st := range implicit {
		if !has(st) {
			out = append(out, problemResponse(st))
		}
	}
	slices.SortFunc(out, func(a, b apiResponse) int { return a.Status - b.Status })
	return out
}

// operationID is a stable name for client generators: the method and the path's static words, camel-cased
// ("POST /api/v1/workflows/{id}/run" → "postWorkflowsRun"); wildcards add "By" + their name.
func operationID(method, path string) string {
	var b strings.Builder
	b.WriteString(strings.ToLower(method))
	for _, seg := range strings.Split(strings.TrimPrefix(path, "/api/v1"), "/") {
		switch {
		case seg == "" || seg == "{$}":
		case strings.HasPrefix(seg, "{"):
			b.WriteString("By" + upperFirst(strings.TrimSuffix(strings.Trim(seg, "{}"), "...")))
		default:
			for _, word := range strings.FieldsFunc(seg, func(r rune) bool { return r == '-' || r == '_' || r == '.' }) {
				b.WriteString(upperFirst(word))
			}
		}
	}
	return b.String()
}

func upperFirst(s string) string {
	if s == "" {
		return s
	}
	r := []rune(s)
	r[0] = unicode.ToUpper(r[0])
	return string(r)
}

func parameter(ref *reflectschema.Reflector, p apiParam) map[string]any {
	typ := reflect.TypeOf(p.Type)
	if typ == nil {
		typ = reflect.TypeFor[string]()
	}
	schema := ref.Schema(typ, true)
	if len(p.Enum) > 0 {
		schema = map[string]any{"type": "string", "enum": p.Enum}
	}
	out := map[string]any{"name": p.Name, "in": p.In, "schema": schema}
	if p.Description != "" {
		out["description"] = p.Description
	}
	if p.Required {
		out["required"] = true
	}
	return out
}

// newReflector reflects the API's types: the closed sets of its string types, the binary body, the names the
// document has always given some types, and the definition property's schema.
func newReflector() *reflectschema.Reflector {
	return reflectschema.New(reflectschema.Options{
		Enums: map[reflect.Type][]any{
			reflect.TypeFor[fault.Code](): {fault.Invalid, fault.NotFound, fault.Conflict, fault.Unauthorized, fault.Forbidden,
				fault.RateLimited, fault.TooLarge, fault.Unavailable, fault.InsufficientStorage, fault.Internal},
			reflect.TypeFor[engine.Category](): {engine.CategoryTrigger, engine.CategoryTransform, engine.CategoryCondition,
				engine.CategoryAction},
		},
		Fixed: map[reflect.Type]map[string]any{
			reflect.TypeFor[binaryBody](): {"type": "string", "contentMediaType": "application/octet-stream"},
		},
		Name:  componentName,
		Field: definitionField,
	})
}

// componentName names the types whose Go name would read badly in the document with the names the API has always
// given them; "" for the others.
func componentName(t reflect.Type) string {
	switch t {
	case reflect.TypeFor[httpx.ProblemBody]():
		return "Problem"
	case reflect.TypeFor[app.Invitation](): // a use case's input type
		return "InvitationInput"
	case reflect.TypeFor[APITokenJSON]():
		return "ApiToken"
	case reflect.TypeFor[APITokenListJSON]():
		return "ApiTokenList"
	case reflect.TypeFor[APITokenCreatedJSON]():
		return "ApiTokenCreated"
	}
	if name, ok := bundleComponentNames[t]; ok {
		return name
	}
	return ""
}

// definitionField is the schema of a workflow definition property: a request's must match the served schema. A
// stored definition is only described by it, since a version saved before a node type changed may no longer match.
func definitionField(name string, t reflect.Type, request bool) (map[string]any, bool) {
	if name != "definition" || (t != reflect.TypeFor[json.RawMessage]() && t != reflect.TypeFor[*json.RawMessage]()) {
		return nil, false
	}
	if request {
		return map[string]any{"$ref": DefinitionSchemaPath}, true
	}
	return map[string]any{"description": "A workflow definition, as saved; its shape is " + DefinitionSchemaPath + "."}, true
}
