package api

import (
	"encoding"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/netip"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/google/uuid"

	"github.com/concertmaster/concertmaster/app"
	"github.com/concertmaster/concertmaster/engine"
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
		flagRouteDescriptions()} {
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
	ref := newSchemaReflector()
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
		op, err := ref.operation(method, path, rt)
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
			"schemas": ref.components,
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
func (ref *schemaReflector) operation(method, path string, rt apiRoute) (map[string]any, error) {
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
		params = append(params, ref.parameter(p))
	}
	for _, p := range rt.Params {
		if _, left := given[p.In+":"+p.Name]; !left {
			continue
		}
		if p.In == "path" {
			return nil, fmt.Errorf("path parameter %q is not in the pattern", p.Name)
		}
		params = append(params, ref.parameter(p))
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
			"content": map[string]any{ct: map[string]any{"schema": ref.schemaOf(reflect.TypeOf(rt.Body), true)}}}
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
			out["content"] = map[string]any{ct: map[string]any{"schema": ref.schemaOf(reflect.TypeOf(resp.Body), false)}}
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

func (ref *schemaReflector) parameter(p apiParam) map[string]any {
	typ := reflect.TypeOf(p.Type)
	if typ == nil {
		typ = reflect.TypeFor[string]()
	}
	schema := ref.schemaOf(typ, true)
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

// schemaReflector turns Go types into JSON Schema 2020-12 (the dialect of OpenAPI 3.1) by encoding/json's rules.
// A named struct becomes a component referenced by $ref. A type reflected for a request and for a response gets
// two components, because what is required differs: a response always carries a field without omitempty, while a
// request must carry only what the handler validates as required.
type schemaReflector struct {
	components map[string]any
	names      map[schemaKey]string
	owners     map[string]schemaKey
}

type schemaKey struct {
	t       reflect.Type
	request bool
}

func newSchemaReflector() *schemaReflector {
	return &schemaReflector{components: map[string]any{}, names: map[schemaKey]string{}, owners: map[string]schemaKey{}}
}

var (
	timeType       = reflect.TypeFor[time.Time]()
	uuidType       = reflect.TypeFor[uuid.UUID]()
	rawMessageType = reflect.TypeFor[json.RawMessage]()
	addrType       = reflect.TypeFor[netip.Addr]()
	durationType   = reflect.TypeFor[time.Duration]()
	binaryType     = reflect.TypeFor[binaryBody]()
	textMarshaler  = reflect.TypeFor[encoding.TextMarshaler]()
	jsonMarshaler  = reflect.TypeFor[json.Marshaler]()
)

// schemaEnums lists the values of string types whose set is closed.
var schemaEnums = map[reflect.Type][]any{
	reflect.TypeFor[fault.Code](): {fault.Invalid, fault.NotFound, fault.Conflict, fault.Unauthorized, fault.Forbidden,
		fault.RateLimited, fault.TooLarge, fault.Unavailable, fault.InsufficientStorage, fault.Internal},
	reflect.TypeFor[engine.Category](): {engine.CategoryTrigger, engine.CategoryTransform, engine.CategoryCondition,
		engine.CategoryAction},
}

// schemaOf returns the schema of t, registering named structs as components.
func (ref *schemaReflector) schemaOf(t reflect.Type, request bool) map[string]any {
	switch t {
	case timeType:
		return map[string]any{"type": "string", "format": "date-time"}
	case uuidType:
		return map[string]any{"type": "string", "format": "uuid"}
	case rawMessageType:
		return map[string]any{"description": "Any JSON value."}
	case addrType:
		return map[string]any{"type": "string", "description": "An IP address."}
	case durationType:
		return map[string]any{"type": "integer", "description": "A duration in nanoseconds."}
	case binaryType:
		return map[string]any{"type": "string", "contentMediaType": "application/octet-stream"}
	}
	if values, ok := schemaEnums[t]; ok {
		return map[string]any{"type": "string", "enum": values}
	}
	if t.Kind() == reflect.Pointer {
		return nullable(ref.schemaOf(t.Elem(), request))
	}
	if t.Implements(textMarshaler) && !t.Implements(jsonMarshaler) {
		return map[string]any{"type": "string"}
	}
	if t.Implements(jsonMarshaler) {
		return map[string]any{}
	}
	switch t.Kind() {
	case reflect.Bool:
		return map[string]any{"type": "boolean"}
	case reflect.Int8, reflect.Int16, reflect.Int32:
		return map[string]any{"type": "integer", "format": "int32"}
	case reflect.Int, reflect.Int64:
		return map[string]any{"type": "integer", "format": "int64"}
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return map[string]any{"type": "integer", "minimum": 0}
	case reflect.Float32, reflect.Float64:
		return map[string]any{"type": "number"}
	case reflect.String:
		return map[string]any{"type": "string"}
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 {
			return nullable(map[string]any{"type": "string", "contentEncoding": "base64"})
		}
		// encoding/json writes a nil slice as null.
		return nullable(map[string]any{"type": "array", "items": ref.schemaOf(t.Elem(), request)})
	case reflect.Array:
		return map[string]any{"type": "array", "items": ref.schemaOf(t.Elem(), request), "minItems": t.Len(),
			"maxItems": t.Len()}
	case reflect.Map:
		return nullable(map[string]any{"type": "object", "additionalProperties": ref.schemaOf(t.Elem(), request)})
	case reflect.Struct:
		if t.Name() == "" {
			return ref.structSchema(t, request)
		}
		return map[string]any{"$ref": "#/components/schemas/" + ref.component(t, request)}
	}
	return map[string]any{} // interfaces: any JSON value
}

// component registers a named struct once per mode and returns its component name.
func (ref *schemaReflector) component(t reflect.Type, request bool) string {
	key := schemaKey{t, request}
	if name, ok := ref.names[key]; ok {
		return name
	}
	name := componentName(t)
	if owner, taken := ref.owners[name]; taken && owner != key {
		switch {
		case owner.t == t && request:
			name += "Input"
		case owner.t == t:
			name += "Output"
		default:
			name = upperFirst(pkgName(t)) + name
		}
		if _, taken := ref.owners[name]; taken {
			panic("openapi: two types are both named " + name)
		}
	}
	ref.names[key], ref.owners[name] = name, key
	ref.components[name] = map[string]any{} // a placeholder, for types that refer to themselves
	ref.components[name] = ref.structSchema(t, request)
	return name
}

// componentName is a type's exported-looking name: WorkflowJSON → Workflow, TokenResponse → TokenResponse.
func componentName(t reflect.Type) string {
	// Types whose Go name would read badly in the document, and the names the API has always given them.
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
	name, _, _ := strings.Cut(t.Name(), "[")
	return upperFirst(strings.TrimSuffix(name, "JSON"))
}

func pkgName(t reflect.Type) string {
	p := t.PkgPath()
	return p[strings.LastIndex(p, "/")+1:]
}

// structSchema is an object schema of t's JSON fields, embedded structs flattened as encoding/json does. Unknown
// properties are refused: httpx.DecodeJSON refuses them in requests, and in responses they would be drift.
func (ref *schemaReflector) structSchema(t reflect.Type, request bool) map[string]any {
	props := map[string]any{}
	var required []string
	ref.fields(t, request, props, &required)
	out := map[string]any{"type": "object", "properties": props, "additionalProperties": false}
	if len(required) > 0 {
		slices.Sort(required)
		out["required"] = required
	}
	return out
}

func (ref *schemaReflector) fields(t reflect.Type, request bool, props map[string]any, required *[]string) {
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		ft := f.Type
		if f.Anonymous && name == "" {
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				ref.fields(ft, request, props, required)
				continue
			}
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		schema := ref.schemaOf(ft, request)
		if name == "definition" && (ft == rawMessageType || ft == reflect.PointerTo(rawMessageType)) {
			schema = definitionSchemaRef(request)
		}
		if slices.Contains(strings.Split(opts, ","), "string") {
			schema = map[string]any{"type": "string"}
		}
		rules := strings.Split(f.Tag.Get("validate"), ",")
		applyValidation(schema, ft, rules)
		props[name] = schema
		optional := strings.Contains(opts, "omitempty") || strings.Contains(opts, "omitzero")
		if (request && slices.Contains(rules, "required")) || (!request && !optional) {
			*required = append(*required, name)
		}
	}
}

// definitionSchemaRef is the schema of a workflow definition property: a request's must match the served schema. A
// stored definition is only described by it, since a version saved before a node type changed may no longer match.
func definitionSchemaRef(request bool) map[string]any {
	if request {
		return map[string]any{"$ref": DefinitionSchemaPath}
	}
	return map[string]any{"description": "A workflow definition, as saved; its shape is " + DefinitionSchemaPath + "."}
}

// applyValidation carries the validator tags the handlers check into the schema, so clients see the same limits.
func applyValidation(schema map[string]any, t reflect.Type, rules []string) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	isString := t.Kind() == reflect.String
	isNumber := reflect.Int <= t.Kind() && t.Kind() <= reflect.Float64
	if !isString && !isNumber {
		return
	}
	for _, rule := range rules {
		key, param, _ := strings.Cut(rule, "=")
		n, numErr := strconv.Atoi(param)
		switch {
		case key == "min" && numErr == nil && isString:
			schema["minLength"] = n
		case key == "max" && numErr == nil && isString:
			schema["maxLength"] = n
		case key == "min" && numErr == nil:
			schema["minimum"] = n
		case key == "max" && numErr == nil:
			schema["maximum"] = n
		case key == "oneof" && isString:
			var values []any
			for _, v := range strings.Fields(param) {
				values = append(values, v)
			}
			if !slices.Contains(rules, "required") {
				values = append(values, "") // an omitted optional value is its zero value
			}
			schema["enum"] = values
		case key == "email":
			schema["format"] = "email"
		}
	}
}

// nullable lets a schema accept null too, as encoding/json writes a nil pointer, slice or map.
func nullable(schema map[string]any) map[string]any {
	switch typ := schema["type"].(type) {
	case string:
		out := maps.Clone(schema)
		out["type"] = []any{typ, "null"}
		if enum, ok := out["enum"].([]any); ok {
			out["enum"] = append(slices.Clone(enum), nil)
		}
		return out
	case nil:
		if _, isRef := schema["$ref"]; isRef {
			return map[string]any{"anyOf": []any{schema, map[string]any{"type": "null"}}}
		}
		return schema // already any value
	}
	return schema
}
