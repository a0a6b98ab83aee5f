package actions_test

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/concertmaster/concertmaster/engine"
)

// The tests here keep the expression hints of the config schemas (engine.ExpressionKeyword, which the canvas editor
// reads) true to the code: every registered type, built-ins and actions.

// hintConfigs are valid configs of every registered type that between them set every free-text string field of its
// schema, so that probing their strings reaches every field the code might evaluate. A type added without configs
// here fails TestExpressionHintsMatchTheCode.
var hintConfigs = map[string][]string{
	"trigger.webhook":     {`{"auth":"header","header_name":"X-Token"}`},
	"trigger.form":        {`{"form_id":"contact"}`},
	"trigger.schedule":    {`{"cron":"0 9 * * 1-5","timezone":"Europe/Paris"}`, `{"every":"5m"}`},
	"trigger.file_upload": {`{"accept":["text/csv"],"max_bytes":1024}`},
	"trigger.error":       {`{"watch":"workflow","workflow_id":"0190a5b4-7c1e-7b9a-8f3e-2d1c0b9a8f7e"}`},
	"transform.data":      {`{"jq":".a"}`, `{"mapping":{"a":"{{ input.a }}","b":"text"}}`},
	"transform.filter":    {`{"condition":"item > 1","items":"input.list"}`},
	"transform.aggregate": {`{"items":"input.orders","group_by":["customer.id"],"aggregations":[{"op":"sum","field":"total","as":"revenue"}]}`},
	"transform.format":    {`{"output":"html","template":"<p>{{ input.id }}</p>"}`, `{"output":"csv","items":"input.rows","columns":["a","b"]}`},
	"transform.parse":     {`{"file":"trigger","format":"csv","delimiter":";","sheet":"Orders","types":{"n":"number"},"date_layout":"02/01/2006"}`},
	"condition.if":        {`{"condition":"input.total > 100"}`},
	"condition.switch":    {`{"cases":[{"port":"eu","condition":"input.region == 'eu'"}]}`},
	"condition.loop":      {`{"items":"input.orders","concurrency":2}`},
	"condition.delay":     {`{"duration":"1h"}`, `{"until":"input.at"}`},
	"action.email": {
		`{"integration_id":"0190a5b4-7c1e-7b9a-8f3e-2d1c0b9a8f7e","from":"Sales <sales@example.com>",
		  "to":"{{ trigger.body.email }}","cc":["a@example.com"],"bcc":"b@example.com","subject":"Order {{ input.id }}",
		  "text":"Hello","html":"<p>Hello</p>","attachments":[{"content":"{{ input.items }}","format":"csv","filename":"items.csv"},
		  {"from_node":"in","format":"json","filename":"in.json"}]}`,
		`{"integration_id":"0190a5b4-7c1e-7b9a-8f3e-2d1c0b9a8f7e","to":["a@example.com"],"cc":"c@example.com",
		  "bcc":["d@example.com"],"subject":"s","text":"t"}`,
	},
	"action.http": {
		`{"method":"POST","url":"https://api.example.com/{{ input.id }}","headers":{"X-A":"{{ input.a }}"},
		  "query":{"q":"x"},"body":{"text":"{{ input.note }}","list":["a",1]},"timeout":"10s",
		  "integration_id":"0190a5b4-7c1e-7b9a-8f3e-2d1c0b9a8f7e"}`,
		`{"method":"POST","url":"https://x.example.com","body_type":"raw","body":"raw {{ input.a }}","content_type":"text/plain"}`,
		`{"url":"https://x.example.com","response":{"cache_ttl":"1m"}}`,
		`{"method":"POST","url":"https://x.example.com","upload":{"file":"input.file","field":"report","filename":"r-{{ input.id }}.csv"}}`,
	},
	"action.database": {
		`{"integration_id":"0190a5b4-7c1e-7b9a-8f3e-2d1c0b9a8f7e","query":"SELECT $1","params":["{{ input.id }}"],"timeout":"10s"}`,
	},
	"action.file_export": {
		`{"items":"input.orders","format":"csv","filename":"orders-{{ execution.id }}.csv","retention":"168h","columns":["id"]}`,
	},
}

// TestExpressionHintsAreWellFormed checks where the keyword sits and what it says: one of the three kinds, on a
// schema of a string (or one admitting strings: a oneOf branch, any JSON value), and nowhere the walk below does
// not reach.
func TestExpressionHintsAreWellFormed(t *testing.T) {
	t.Parallel()
	kinds := []string{engine.ExpressionKindExpression, engine.ExpressionKindTemplate, engine.ExpressionKindJQ}
	for _, nt := range registry.Types() {
		root := decodeSchema(t, nt)
		found := 0
		eachSubschema(root, "#", func(s map[string]any, at string) {
			v, ok := s[engine.ExpressionKeyword]
			if !ok {
				return
			}
			found++
			if k, _ := v.(string); !slices.Contains(kinds, k) {
				t.Errorf("%s %s: %s is %v, want one of %v", nt.Name, at, engine.ExpressionKeyword, v, kinds)
			}
			if !admitsString(s) && !hasStringBranch(root, s) {
				t.Errorf("%s %s: %s on a schema that admits no string", nt.Name, at, engine.ExpressionKeyword)
			}
		})
		// Every occurrence of the key must be one the editor's walk of the schema finds (not a property named so,
		// not inside a default or an example).
		if all := countKey(root, engine.ExpressionKeyword); all != found {
			t.Errorf("%s: %d %s keys, %d of them on subschemas", nt.Name, all, engine.ExpressionKeyword, found)
		}
	}
}

// TestExpressionHintsSpotCheck pins the hints of the fields DESIGN.md and the editor rely on, and the fields that
// look like expressions but are not ("" = no hint).
func TestExpressionHintsSpotCheck(t *testing.T) {
	t.Parallel()
	const expr, tmpl, jq = engine.ExpressionKindExpression, engine.ExpressionKindTemplate, engine.ExpressionKindJQ
	for _, tc := range []struct{ typ, field, want string }{
		{"condition.if", "condition", expr},
		{"condition.switch", "cases.0.condition", expr},
		{"condition.switch", "cases.0.port", ""},
		{"condition.loop", "items", expr},
		{"condition.delay", "until", expr},
		{"condition.delay", "duration", ""},
		{"transform.filter", "condition", expr},
		{"transform.filter", "items", expr},
		{"transform.data", "jq", jq},
		{"transform.data", "mapping.total", tmpl},
		{"transform.aggregate", "items", expr},
		{"transform.aggregate", "group_by.0", ""},           // a dotted path, not an expression
		{"transform.aggregate", "aggregations.0.field", ""}, // likewise
		{"transform.format", "template", tmpl},
		{"transform.format", "items", expr},
		{"transform.format", "columns.0", ""},
		{"trigger.schedule", "cron", ""},
		{"trigger.form", "form_id", ""},
		{"action.email", "to", tmpl},
		{"action.email", "to.1", tmpl},
		{"action.email", "cc", tmpl},
		{"action.email", "bcc.0", tmpl},
		{"action.email", "from", tmpl},
		{"action.email", "subject", tmpl},
		{"action.email", "text", tmpl},
		{"action.email", "html", tmpl},
		{"action.email", "attachments.0.content", tmpl},
		{"action.email", "attachments.0.filename", tmpl},
		{"action.email", "attachments.0.from_node", ""},
		{"action.email", "integration_id", ""},
		{"action.http", "url", tmpl},
		{"action.http", "headers.Authorization", tmpl},
		{"action.http", "query.page", tmpl},
		{"action.http", "body", tmpl},
		{"action.http", "body.customer.name", tmpl},
		{"action.http", "body.lines.0", tmpl},
		{"action.http", "content_type", ""},
		{"action.http", "timeout", ""},
		{"action.database", "params.0", tmpl},
		{"action.database", "query", ""}, // SQL is never a template: values go through params
		{"action.file_export", "items", expr},
		{"action.file_export", "filename", tmpl},
		{"action.file_export", "columns.0", ""},
	} {
		nt, ok := registry.Lookup(tc.typ)
		if !ok {
			t.Fatalf("no type %s", tc.typ)
		}
		root := decodeSchema(t, nt)
		if got := strings.Join(hintsAt(root, root, strings.Split(tc.field, "."), ""), ","); got != tc.want {
			t.Errorf("%s %s: hint %q, want %q", tc.typ, tc.field, got, tc.want)
		}
	}
}

// TestExpressionHintsMatchTheCode probes every string of hintConfigs: it replaces the string with text each
// language rejects in its own words and sees whether the type's Compile (through Validate) complains about that
// field, and in which language. The kind found must be the schema's hint, and no hint may sit on a field the code
// takes literally. It also checks that hintConfigs set every free-text string field of every schema.
func TestExpressionHintsMatchTheCode(t *testing.T) {
	t.Parallel()
	for _, nt := range registry.Types() {
		configs, ok := hintConfigs[nt.Name]
		if !ok {
			t.Errorf("%s has no hintConfigs: add configs that set its string fields", nt.Name)
			continue
		}
		root := decodeSchema(t, nt)
		locations := stringLocations(root, root, nil, 0)
		var probed [][]string
		for _, cfg := range configs {
			var doc any
			if err := json.Unmarshal([]byte(cfg), &doc); err != nil {
				t.Fatalf("%s: %v", nt.Name, err)
			}
			if probs := validateOne(nt.Name, doc); len(probs) > 0 {
				t.Errorf("%s %s: %v", nt.Name, cfg, probs)
				continue
			}
			for _, leaf := range stringLeaves(doc, nil) {
				freeText := false
				for _, loc := range locations {
					freeText = freeText || loc.matches(leaf)
				}
				if !freeText {
					continue // a choice (enum), not text
				}
				probed = append(probed, leaf)
				field := strings.Join(leaf, ".")
				got, err := evaluatedAs(nt.Name, doc, leaf)
				if err != nil {
					t.Errorf("%s %s: %v", nt.Name, field, err)
					continue
				}
				want := strings.Join(hintsAt(root, root, leaf, ""), ",")
				if got != want {
					t.Errorf("%s %s: the code evaluates it as %q, the schema hints %q", nt.Name, field, got, want)
				}
			}
		}
		for _, loc := range locations {
			if !slices.ContainsFunc(probed, loc.matches) {
				t.Errorf("%s: no hintConfigs config sets %s", nt.Name, strings.Join(loc.path, "."))
			}
		}
	}
}

const probeName = "nope_xq"

// evaluatedAs finds how the code treats the string at leaf: "expression" when a bare unknown name is refused as one
// by expr-lang, "jq" when gojq refuses it as an undefined function, "template" when only a {{ }} part of it is
// refused, "" when neither is.
func evaluatedAs(typ string, doc any, leaf []string) (string, error) {
	bare, err := problemsAt(typ, doc, leaf, probeName)
	if err != nil {
		return "", err
	}
	switch {
	case strings.Contains(bare, "unknown name "+probeName):
		return engine.ExpressionKindExpression, nil
	case strings.Contains(bare, "function not defined: "+probeName):
		return engine.ExpressionKindJQ, nil
	}
	braced, err := problemsAt(typ, doc, leaf, "{{ "+probeName+" }}")
	if err != nil {
		return "", err
	}
	if strings.Contains(braced, "unknown name "+probeName) {
		return engine.ExpressionKindTemplate, nil
	}
	return "", nil
}

var indexPart = regexp.MustCompile(`\[(\d+)\]`)

// problemsAt validates doc with the string at leaf replaced by value and returns the messages about that field (or
// below it: a single address is compiled as to[0]). Problems elsewhere mean the probe proved nothing.
func problemsAt(typ string, doc any, leaf []string, value string) (string, error) {
	probs := validateOne(typ, withLeaf(doc, leaf, value))
	field := strings.Join(leaf, ".")
	var msgs []string
	for _, p := range probs {
		f := indexPart.ReplaceAllString(strings.TrimPrefix(p.Field, "config."), ".$1")
		if f != field && !strings.HasPrefix(f, field+".") {
			return "", fmt.Errorf("probe %q was refused at another field: %v", value, probs)
		}
		msgs = append(msgs, p.Message)
	}
	return strings.Join(msgs, "; "), nil
}

// validateOne validates a node of the type with the config: a trigger alone, anything else behind a webhook.
func validateOne(typ string, cfg any) []engine.Problem {
	b, err := json.Marshal(cfg)
	if err != nil {
		panic(err)
	}
	d := &engine.Definition{Nodes: []engine.Node{{ID: "x", Type: typ, Config: b}}}
	if !strings.HasPrefix(typ, "trigger.") {
		d.Nodes = append([]engine.Node{{ID: "in", Type: "trigger.webhook", Config: json.RawMessage(`{"auth":"none"}`)}}, d.Nodes...)
		d.Edges = []engine.Edge{{From: "in", To: "x"}}
	}
	var own []engine.Problem
	for _, p := range registry.Validate(d) {
		if p.NodeID == "x" {
			own = append(own, p)
		}
	}
	return own
}

// stringLeaves lists the paths of every string in a config value, in a stable order.
func stringLeaves(v any, at []string) [][]string {
	switch x := v.(type) {
	case string:
		return [][]string{slices.Clone(at)}
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var out [][]string
		for _, k := range keys {
			out = append(out, stringLeaves(x[k], append(at, k))...)
		}
		return out
	case []any:
		var out [][]string
		for i, e := range x {
			out = append(out, stringLeaves(e, append(at, strconv.Itoa(i)))...)
		}
		return out
	}
	return nil
}

// withLeaf returns a deep copy of v with the value at path replaced.
func withLeaf(v any, path []string, value any) any {
	if len(path) == 0 {
		return value
	}
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = e
		}
		out[path[0]] = withLeaf(x[path[0]], path[1:], value)
		return out
	case []any:
		out := slices.Clone(x)
		i, _ := strconv.Atoi(path[0])
		out[i] = withLeaf(x[i], path[1:], value)
		return out
	}
	panic(fmt.Sprintf("no %v in %v", path, v))
}

func decodeSchema(t *testing.T, nt engine.NodeType) map[string]any {
	t.Helper()
	var root map[string]any
	if err := json.Unmarshal(nt.ConfigSchema, &root); err != nil {
		t.Fatalf("%s schema: %v", nt.Name, err)
	}
	return root
}

// Keywords whose value is a subschema, a list of them, or a map of them (draft 2020-12 applicators).
var (
	schemaKeywords    = []string{"additionalProperties", "items", "contains", "not", "if", "then", "else", "propertyNames", "unevaluatedItems", "unevaluatedProperties"}
	schemaListKeyword = []string{"oneOf", "anyOf", "allOf", "prefixItems"}
	schemaMapKeywords = []string{"properties", "patternProperties", "$defs", "dependentSchemas"}
)

// eachSubschema calls fn with every schema object in s, s included, and its JSON pointer.
func eachSubschema(s any, at string, fn func(map[string]any, string)) {
	m, ok := s.(map[string]any)
	if !ok {
		return // a boolean schema
	}
	fn(m, at)
	for _, k := range schemaKeywords {
		if sub, ok := m[k]; ok {
			eachSubschema(sub, at+"/"+k, fn)
		}
	}
	for _, k := range schemaListKeyword {
		list, _ := m[k].([]any)
		for i, sub := range list {
			eachSubschema(sub, fmt.Sprintf("%s/%s/%d", at, k, i), fn)
		}
	}
	for _, k := range schemaMapKeywords {
		subs, _ := m[k].(map[string]any)
		for name, sub := range subs {
			eachSubschema(sub, at+"/"+k+"/"+name, fn)
		}
	}
}

func countKey(v any, key string) int {
	n := 0
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			if k == key {
				n++
			}
			n += countKey(e, key)
		}
	case []any:
		for _, e := range x {
			n += countKey(e, key)
		}
	}
	return n
}

// admitsString reports whether a schema, on its own, is one of a free-text string: typed string, or untyped and
// unconstrained (any JSON value). Enums and consts are choices, not text; combinators are decided by their branches.
func admitsString(s map[string]any) bool {
	switch t := s["type"].(type) {
	case string:
		return t == "string"
	case []any:
		return slices.Contains(t, any("string"))
	}
	for _, k := range []string{"enum", "const", "$ref", "oneOf", "anyOf", "allOf", "properties", "items", "additionalProperties"} {
		if _, ok := s[k]; ok {
			return false
		}
	}
	return true
}

// expand returns a schema with what applies at the same place: its $ref target and its oneOf/anyOf/allOf
// branches, recursively.
func expand(root, s map[string]any, depth int) []map[string]any {
	if s == nil || depth > 8 {
		return nil
	}
	out := []map[string]any{s}
	if ref, ok := s["$ref"].(string); ok {
		out = append(out, expand(root, resolveRef(root, ref), depth+1)...)
	}
	for _, k := range []string{"oneOf", "anyOf", "allOf"} {
		list, _ := s[k].([]any)
		for _, b := range list {
			if bm, ok := b.(map[string]any); ok {
				out = append(out, expand(root, bm, depth+1)...)
			}
		}
	}
	return out
}

func hasStringBranch(root, s map[string]any) bool {
	for _, e := range expand(root, s, 0)[1:] {
		if admitsString(e) {
			return true
		}
	}
	return false
}

func resolveRef(root map[string]any, ref string) map[string]any {
	var cur any = root
	for _, part := range strings.Split(strings.TrimPrefix(ref, "#/"), "/") {
		m, _ := cur.(map[string]any)
		cur = m[part]
	}
	m, _ := cur.(map[string]any)
	return m
}

// hintsAt returns the hints (normally none or one) that apply to a string at path in a config: those on the string
// schemas the path reaches, or inherited from an enclosing any-JSON schema (action.http's body).
func hintsAt(root, s map[string]any, path []string, inherited string) []string {
	set := map[string]bool{}
	if len(path) == 0 {
		for _, e := range expand(root, s, 0) {
			if k, ok := e[engine.ExpressionKeyword].(string); ok && (admitsString(e) || hasStringBranch(root, e)) {
				set[k] = true
			}
		}
		if len(set) == 0 && inherited != "" {
			set[inherited] = true
		}
	} else {
		reached := false
		for _, e := range expand(root, s, 0) {
			inh := inherited
			if k, ok := e[engine.ExpressionKeyword].(string); ok {
				inh = k
			}
			var child map[string]any
			if _, err := strconv.Atoi(path[0]); err == nil {
				child, _ = e["items"].(map[string]any)
			}
			if props, _ := e["properties"].(map[string]any); child == nil && props != nil {
				child, _ = props[path[0]].(map[string]any)
			}
			if child == nil {
				child, _ = e["additionalProperties"].(map[string]any)
			}
			if child != nil {
				reached = true
				for _, k := range hintsAt(root, child, path[1:], inh) {
					set[k] = true
				}
			} else if admitsString(e) && inh != "" && e["type"] == nil {
				reached = true // inside an any-JSON value
				set[inh] = true
			}
		}
		if !reached && inherited != "" {
			set[inherited] = true
		}
	}
	out := make([]string, 0, len(set))
	for k := range set {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// stringLocation is a place in a config where the schema allows free text: a path with "*" for any array index or
// object key; anyValue when the schema there takes any JSON value, whose strings may sit deeper.
type stringLocation struct {
	path     []string
	anyValue bool
}

func (l stringLocation) matches(leaf []string) bool {
	if len(leaf) < len(l.path) || (len(leaf) > len(l.path) && !l.anyValue) {
		return false
	}
	for i, p := range l.path {
		if p != "*" && p != leaf[i] {
			return false
		}
	}
	return true
}

// stringLocations lists the free-text string places of a schema, following $ref and combinators.
func stringLocations(root, s map[string]any, at []string, depth int) []stringLocation {
	if depth > 16 {
		return nil
	}
	var out []stringLocation
	seen := map[string]bool{}
	add := func(l stringLocation) {
		if key := strings.Join(l.path, "."); !seen[key] {
			seen[key] = true
			out = append(out, l)
		}
	}
	for _, e := range expand(root, s, 0) {
		if admitsString(e) {
			add(stringLocation{path: slices.Clone(at), anyValue: e["type"] == nil})
		}
		props, _ := e["properties"].(map[string]any)
		for name, sub := range props {
			if sm, ok := sub.(map[string]any); ok {
				for _, l := range stringLocations(root, sm, append(slices.Clone(at), name), depth+1) {
					add(l)
				}
			}
		}
		for _, k := range []string{"items", "additionalProperties"} {
			if sm, ok := e[k].(map[string]any); ok {
				for _, l := range stringLocations(root, sm, append(slices.Clone(at), "*"), depth+1) {
					add(l)
				}
			}
		}
	}
	return out
}
