package nodes

import (
	"encoding/json"

	"github.com/concertmaster/concertmaster/engine"
)

// Webhook authentication modes.
const (
	// WebhookAuthHMAC checks X-ConcertMaster-Signature (HMAC-SHA256 over timestamp and body). It is the default:
	// it proves the sender holds the secret and, with the timestamp window, stops replays.
	WebhookAuthHMAC = "hmac"
	// WebhookAuthHeader compares one header (HeaderName) with the secret, for senders that cannot sign.
	WebhookAuthHeader = "header"
	// WebhookAuthBasic checks HTTP basic credentials against the secret.
	WebhookAuthBasic = "basic"
	// WebhookAuthNone accepts any caller who knows the URL.
	WebhookAuthNone = "none"
)

// Webhook response modes.
const (
	// WebhookRespondAccepted answers 202 with the execution id once the execution is stored.
	WebhookRespondAccepted = "accepted"
	// WebhookRespondResult waits (up to TimeoutSeconds) for the execution and answers with its output.
	WebhookRespondResult = "result"
)

// WebhookConfig is the config of trigger.webhook. The handler at POST /hooks/{token} reads it from the cached plan
// (engine.Plan.Trigger) to authenticate and answer; the node itself only hands the request on.
type WebhookConfig struct {
	Auth           string `json:"auth,omitempty"`
	Response       string `json:"response,omitempty"`
	TimeoutSeconds int    `json:"timeout_seconds,omitempty"`
	HeaderName     string `json:"header_name,omitempty"`
	AllowGet       bool   `json:"allow_get,omitempty"`
}

// ParseWebhookConfig decodes a trigger.webhook config and fills in its defaults.
func ParseWebhookConfig(cfg json.RawMessage) (WebhookConfig, error) {
	c, err := decodeConfig[WebhookConfig](orEmpty(cfg))
	if err != nil {
		return c, err
	}
	if c.Auth == "" {
		c.Auth = WebhookAuthHMAC
	}
	if c.Response == "" {
		c.Response = WebhookRespondAccepted
	}
	if c.TimeoutSeconds == 0 {
		c.TimeoutSeconds = 30
	}
	return c, nil
}

func orEmpty(cfg json.RawMessage) json.RawMessage {
	if len(cfg) == 0 || string(cfg) == "null" {
		return json.RawMessage(`{}`)
	}
	return cfg
}

const webhookSchema = `{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "type": "object",
  "properties": {
    "auth": {"title": "Authentication", "enum": ["hmac", "header", "basic", "none"], "default": "hmac",
      "description": "hmac: signed with X-ConcertMaster-Signature; header: a header must equal the secret; basic: HTTP basic auth; none: anyone with the URL."},
    "response": {"title": "Response", "enum": ["accepted", "result"], "default": "accepted",
      "description": "accepted: answer 202 with the execution id at once; result: wait for the workflow and answer with its output."},
    "timeout_seconds": {"title": "Wait for result (seconds)", "type": "integer", "minimum": 1, "maximum": 300, "default": 30},
    "header_name": {"title": "Header name", "type": "string", "pattern": "^[A-Za-z0-9-]{1,64}$"},
    "allow_get": {"title": "Accept GET requests", "type": "boolean", "default": false}
  },
  "additionalProperties": false,
  "if": {"properties": {"auth": {"const": "header"}}, "required": ["auth"]},
  "then": {"required": ["header_name"]}
}`

// WebhookTrigger starts an execution for each authenticated call to the workflow's webhook URL; its output is
// {body, headers, query, method}.
func WebhookTrigger() engine.NodeType {
	return engine.NodeType{
		Name:         "trigger.webhook",
		Category:     engine.CategoryTrigger,
		Title:        "Webhook",
		Description:  "Starts the workflow when a request reaches its webhook URL. Outputs the request's body, headers, query and method.",
		ConfigSchema: json.RawMessage(webhookSchema),
		Example:      json.RawMessage(`{"auth": "hmac", "response": "accepted"}`),
		Compile: func(cfg json.RawMessage, _ *engine.Compiler) (engine.Runnable, error) {
			if _, err := ParseWebhookConfig(cfg); err != nil {
				return nil, err
			}
			return triggerRun, nil
		},
	}
}
