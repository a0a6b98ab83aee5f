package actions

// The integration kinds described field by field: the one source of the integrations page's per-kind forms and of
// the JSON Schema the API serves for each kind (GET /api/v1/integration-kinds), so that the canvas can offer
// "Create new…" with the same fields. TestKindFieldsMatchSettings keeps these in step with the settings types
// (SMTPSettings, HTTPSettings, PostgresSettings) and with secretFields.

// Field types of integration settings.
const (
	FieldString  = "string"
	FieldInteger = "integer"
	FieldBoolean = "boolean"
	// FieldList is a list of strings (a form takes one per line).
	FieldList = "list"
)

// IntegrationField is one setting of an integration kind.
type IntegrationField struct {
	Name  string `json:"name"`
	Label string `json:"label"`
	Type  string `json:"type"`
	// Enum lists the allowed values of a string setting; the first is its default.
	Enum     []string `json:"enum,omitempty"`
	Required bool     `json:"required,omitempty"`
	// Secret settings are sealed at rest and never shown again.
	Secret bool   `json:"secret,omitempty"`
	Help   string `json:"help,omitempty"`
	// ShownWhen, when set, says which choice of another setting this one belongs to (the basic-auth password to
	// auth=basic): forms show it only then, so that a kind with several modes asks only for the chosen one's fields.
	ShownWhen *FieldCondition `json:"shown_when,omitempty"`
}

// FieldCondition holds when setting Field has one of the values In.
type FieldCondition struct {
	Field string   `json:"field"`
	In    []string `json:"in"`
}

// whenAuth is the condition of an HTTP credentials setting that belongs to the authentication modes in.
func whenAuth(in ...string) *FieldCondition { return &FieldCondition{Field: "auth", In: in} }

// IntegrationKind is one kind of integration with its settings, in the order a form shows them.
type IntegrationKind struct {
	Kind   string             `json:"kind"`
	Label  string             `json:"label"`
	Fields []IntegrationField `json:"fields"`
}

// IntegrationKinds lists the kinds, each with its settings.
func IntegrationKinds() []IntegrationKind {
	return []IntegrationKind{
		{Kind: KindSMTP, Label: "E-mail (SMTP)", Fields: []IntegrationField{
			{Name: "host", Label: "Host", Type: FieldString, Required: true, Help: "smtp.example.com"},
			{Name: "port", Label: "Port", Type: FieldInteger, Help: "587 by default, 465 with implicit TLS"},
			{Name: "tls", Label: "TLS", Type: FieldString, Enum: []string{"starttls", "implicit", "none"}},
			{Name: "username", Label: "Username", Type: FieldString},
			{Name: "password", Label: "Password", Type: FieldString, Secret: true},
			{Name: "from", Label: "From", Type: FieldString, Required: true, Help: "Name <address@example.com>"},
			{Name: "hello_name", Label: "HELO name", Type: FieldString},
		}},
		{Kind: KindHTTP, Label: "HTTP credentials", Fields: []IntegrationField{
			{Name: "auth", Label: "Authentication", Type: FieldString, Required: true,
				Enum: []string{HTTPAuthNone, HTTPAuthBasic, HTTPAuthBearer, HTTPAuthAPIKey, HTTPAuthHMAC}},
			{Name: "base_url", Label: "Base URL", Type: FieldString, Help: "relative URLs of nodes resolve here; credentials go only to its host"},
			{Name: "allowed_hosts", Label: "Other allowed hosts", Type: FieldList, Help: "one per line: api.example.com, api.example.com:8443 or http://host:port"},
			{Name: "username", Label: "Username", Type: FieldString, ShownWhen: whenAuth(HTTPAuthBasic)},
			{Name: "password", Label: "Password", Type: FieldString, Secret: true, ShownWhen: whenAuth(HTTPAuthBasic)},
			{Name: "token", Label: "Bearer token", Type: FieldString, Secret: true, ShownWhen: whenAuth(HTTPAuthBearer)},
			{Name: "api_key", Label: "API key", Type: FieldString, Secret: true, ShownWhen: whenAuth(HTTPAuthAPIKey)},
			{Name: "api_key_name", Label: "API key name", Type: FieldString, Help: "X-API-Key by default",
				ShownWhen: whenAuth(HTTPAuthAPIKey)},
			{Name: "api_key_in", Label: "API key sent in", Type: FieldString, Enum: []string{"header", "query"},
				ShownWhen: whenAuth(HTTPAuthAPIKey)},
			{Name: "hmac_secret", Label: "HMAC secret", Type: FieldString, Secret: true, ShownWhen: whenAuth(HTTPAuthHMAC)},
			{Name: "hmac_header", Label: "HMAC header", Type: FieldString, Help: "X-Signature by default",
				ShownWhen: whenAuth(HTTPAuthHMAC)},
			{Name: "hmac_prefix", Label: "HMAC prefix", Type: FieldString, Help: "sha256= by default",
				ShownWhen: whenAuth(HTTPAuthHMAC)},
			{Name: "hmac_timestamp_header", Label: "HMAC timestamp header", Type: FieldString, ShownWhen: whenAuth(HTTPAuthHMAC)},
			{Name: "test_url", Label: "Test URL", Type: FieldString, Help: "requested (GET) by the connection test"},
		}},
		{Kind: KindPostgres, Label: "PostgreSQL", Fields: []IntegrationField{
			{Name: "host", Label: "Host", Type: FieldString, Required: true},
			{Name: "port", Label: "Port", Type: FieldInteger, Help: "5432 by default"},
			{Name: "database", Label: "Database", Type: FieldString, Required: true},
			{Name: "user", Label: "User", Type: FieldString, Required: true},
			{Name: "password", Label: "Password", Type: FieldString, Secret: true},
			{Name: "sslmode", Label: "SSL mode", Type: FieldString, Enum: []string{"require", "disable", "verify-ca", "verify-full"}},
			{Name: "allow_writes", Label: "Allow writes", Type: FieldBoolean, Help: "without it every query runs read-only"},
			{Name: "max_connections", Label: "Max connections per worker", Type: FieldInteger, Help: "4 by default, at most 20"},
		}},
	}
}

// KindOf returns the description of kind; ok is false for an unknown kind.
func KindOf(kind string) (k IntegrationKind, ok bool) {
	for _, k := range IntegrationKinds() {
		if k.Kind == kind {
			return k, true
		}
	}
	return IntegrationKind{}, false
}

// JSONSchema is the kind's settings as a JSON Schema object: secret settings are marked writeOnly (and format
// password), since they are accepted and never returned.
func (k IntegrationKind) JSONSchema() map[string]any {
	props := map[string]any{}
	required := []string{}
	for _, f := range k.Fields {
		p := map[string]any{"title": f.Label}
		switch f.Type {
		case FieldList:
			p["type"], p["items"] = "array", map[string]any{"type": "string"}
		default:
			p["type"] = f.Type
		}
		if len(f.Enum) > 0 {
			p["enum"] = f.Enum
		}
		if f.Help != "" {
			p["description"] = f.Help
		}
		if f.Secret {
			p["writeOnly"], p["format"] = true, "password"
		}
		if f.ShownWhen != nil {
			p["x-shown-when"] = f.ShownWhen
		}
		props[f.Name] = p
		if f.Required {
			required = append(required, f.Name)
		}
	}
	return map[string]any{"type": "object", "title": k.Label, "properties": props, "required": required,
		"additionalProperties": false}
}
