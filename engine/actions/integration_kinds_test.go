package actions_test

import (
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/concertmaster/concertmaster/engine/actions"
)

// TestKindFieldsMatchSettings keeps the kinds' field lists in step with the settings types the runtime decodes
// (same names, types) and with the secret fields that are sealed.
func TestKindFieldsMatchSettings(t *testing.T) {
	types := map[string]reflect.Type{actions.KindSMTP: reflect.TypeFor[actions.SMTPSettings](),
		actions.KindHTTP: reflect.TypeFor[actions.HTTPSettings](), actions.KindPostgres: reflect.TypeFor[actions.PostgresSettings]()}
	kinds := actions.IntegrationKinds()
	if len(kinds) != len(types) {
		t.Fatalf("%d kinds described, %d settings types", len(kinds), len(types))
	}
	for _, k := range kinds {
		typ, ok := types[k.Kind]
		if !ok {
			t.Errorf("kind %q has no settings type", k.Kind)
			continue
		}
		want := map[string]string{}
		for i := range typ.NumField() {
			f := typ.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			ft := f.Type
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			want[name] = map[reflect.Kind]string{reflect.String: actions.FieldString, reflect.Int: actions.FieldInteger,
				reflect.Bool: actions.FieldBoolean, reflect.Slice: actions.FieldList}[ft.Kind()]
		}
		var secrets []string
		for _, f := range k.Fields {
			if want[f.Name] != f.Type {
				t.Errorf("%s.%s: described as %q, the settings type has %q", k.Kind, f.Name, f.Type, want[f.Name])
			}
			delete(want, f.Name)
			if f.Secret {
				secrets = append(secrets, f.Name)
			}
		}
		for name := range want {
			t.Errorf("%s.%s is not described", k.Kind, name)
		}
		got, wantSecrets := slices.Sorted(slices.Values(secrets)), slices.Sorted(slices.Values(actions.SecretFields(k.Kind)))
		if !slices.Equal(got, wantSecrets) {
			t.Errorf("%s: secret fields %v, sealed fields %v", k.Kind, got, wantSecrets)
		}
		schema := k.JSONSchema()
		if len(schema["properties"].(map[string]any)) != len(k.Fields) {
			t.Errorf("%s: schema has %d properties for %d fields", k.Kind, len(schema["properties"].(map[string]any)), len(k.Fields))
		}
	}
}
