// Package reflectschema turns Go types into JSON Schema 2020-12, the dialect of OpenAPI 3.1, by encoding/json's
// rules, so that the API's document describes exactly what its handlers decode and encode. It knows nothing of the
// API itself: the few types that need a name or a schema of their own are given in Options.
package reflectschema

import (
	"encoding"
	"encoding/json"
	"maps"
	"net/netip"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/google/uuid"
)

// Options are what the reflected types' owner knows about them.
type Options struct {
	// Enums lists the values of string types whose set is closed.
	Enums map[reflect.Type][]any
	// Fixed gives the schema of types described by hand (a binary body), before any other rule.
	Fixed map[reflect.Type]map[string]any
	// Name returns a named struct's component name when its Go name would read badly, "" for the default (the Go
	// name without a JSON suffix: WorkflowJSON → Workflow).
	Name func(reflect.Type) string
	// Field returns the schema of a struct field by its JSON name and type when it is not the type's own (ok false
	// for the type's).
	Field func(name string, t reflect.Type, request bool) (schema map[string]any, ok bool)
}

// Reflector reflects types into schemas. A named struct becomes a component referenced by $ref. A type reflected for
// a request and for a response gets two components, because what is required differs: a response always carries a
// field without omitempty, while a request must carry only what the handler validates as required.
type Reflector struct {
	opts       Options
	components map[string]any
	names      map[schemaKey]string
	owners     map[string]schemaKey
}

type schemaKey struct {
	t       reflect.Type
	request bool
}

// New returns a Reflector with no components yet.
func New(opts Options) *Reflector {
	return &Reflector{opts: opts, components: map[string]any{}, names: map[schemaKey]string{}, owners: map[string]schemaKey{}}
}

// Components are the named structs reflected so far, by component name.
func (ref *Reflector) Components() map[string]any { return ref.components }

var (
	timeType       = reflect.TypeFor[time.Time]()
	uuidType       = reflect.TypeFor[uuid.UUID]()
	rawMessageType = reflect.TypeFor[json.RawMessage]()
	addrType       = reflect.TypeFor[netip.Addr]()
	durationType   = reflect.TypeFor[time.Duration]()
	textMarshaler  = reflect.TypeFor[encoding.TextMarshaler]()
	jsonMarshaler  = reflect.TypeFor[json.Marshaler]()
)

// Schema returns the schema of t, for a request's body or parameter when request, registering named structs as
// components.
func (ref *Reflector) Schema(t reflect.Type, request bool) map[string]any {
	if fixed, ok := ref.opts.Fixed[t]; ok {
		return fixed
	}
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
	}
	if values, ok := ref.opts.Enums[t]; ok {
		return map[string]any{"type": "string", "enum": values}
	}
	if t.Kind() == reflect.Pointer {
		return Nullable(ref.Schema(t.Elem(), request))
	}
	if t.Implements(textMarshaler) && !t.Implements(jsonMarshaler) {
		return map[string]any{"type": "string"}
	}
	if t.Implements(jsonMarshaler) {
		return map[string]any{}
	}
	return ref.kindSchema(t, request)
}

// kindSchema is the schema of t by its kind, once no rule for the type itself applied.
func (ref *Reflector) kindSchema(t reflect.Type, request bool) map[string]any {
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
			return Nullable(map[string]any{"type": "string", "contentEncoding": "base64"})
		}
		// encoding/json writes a nil slice as null.
		return Nullable(map[string]any{"type": "array", "items": ref.Schema(t.Elem(), request)})
	case reflect.Array:
		return map[string]any{"type": "array", "items": ref.Schema(t.Elem(), request), "minItems": t.Len(),
			"maxItems": t.Len()}
	case reflect.Map:
		return Nullable(map[string]any{"type": "object", "additionalProperties": ref.Schema(t.Elem(), request)})
	case reflect.Struct:
		if t.Name() == "" {
			return ref.structSchema(t, request)
		}
		return map[string]any{"$ref": "#/components/schemas/" + ref.component(t, request)}
	}
	return map[string]any{} // interfaces: any JSON value
}

// component registers a named struct once per mode and returns its component name.
func (ref *Reflector) component(t reflect.Type, request bool) string {
	key := schemaKey{t, request}
	if name, ok := ref.names[key]; ok {
		return name
	}
	name := ref.componentName(t)
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

// componentName is a type's component name: Options.Name's, else its Go name without a JSON suffix (WorkflowJSON →
// Workflow, TokenResponse → TokenResponse).
func (ref *Reflector) componentName(t reflect.Type) string {
	if ref.opts.Name != nil {
		if name := ref.opts.Name(t); name != "" {
			return name
		}
	}
	name, _, _ := strings.Cut(t.Name(), "[")
	return upperFirst(strings.TrimSuffix(name, "JSON"))
}

// upperFirst capitalises s's first letter.
func upperFirst(s string) string {
	if s == "" {
		return s
	}
	r := []rune(s)
	r[0] = unicode.ToUpper(r[0])
	return string(r)
}

func pkgName(t reflect.Type) string {
	p := t.PkgPath()
	return p[strings.LastIndex(p, "/")+1:]
}

// structSchema is an object schema of t's JSON fields, embedded structs flattened as encoding/json does. Unknown
// properties are refused: the API's decoder refuses them in requests, and in responses they would be drift.
func (ref *Reflector) structSchema(t reflect.Type, request bool) map[string]any {
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

func (ref *Reflector) fields(t reflect.Type, request bool, props map[string]any, required *[]string) {
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
		schema := ref.Schema(ft, request)
		if ref.opts.Field != nil {
			if own, ok := ref.opts.Field(name, ft, request); ok {
				schema = own
			}
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

// Nullable lets a schema accept null too, as encoding/json writes a nil pointer, slice or map.
func Nullable(schema map[string]any) map[string]any {
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
