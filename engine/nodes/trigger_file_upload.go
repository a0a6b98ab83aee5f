package nodes

import (
	"encoding/json"
	"mime"
	"strings"

	"github.com/concertmaster/concertmaster/engine"
)

// DefaultUploadBytes is the upload limit when a trigger.file_upload sets none.
const DefaultUploadBytes = 10 << 20

// FileUploadConfig is the config of trigger.file_upload. The upload handler reads it to refuse files before they
// are stored.
type FileUploadConfig struct {
	// Accept lists media types ("application/pdf") or families ("image/*"); empty accepts any.
	Accept   []string `json:"accept,omitempty"`
	MaxBytes int64    `json:"max_bytes,omitempty"`
}

// ParseFileUploadConfig decodes a trigger.file_upload config and fills in its defaults.
func ParseFileUploadConfig(cfg json.RawMessage) (FileUploadConfig, error) {
	c, err := decodeConfig[FileUploadConfig](orEmpty(cfg))
	if c.MaxBytes == 0 {
		c.MaxBytes = DefaultUploadBytes
	}
	return c, err
}

// Accepts reports whether a file of the given media type (parameters such as charset are ignored) may be uploaded.
func (c FileUploadConfig) Accepts(mediaType string) bool {
	if len(c.Accept) == 0 {
		return true
	}
	mt, _, err := mime.ParseMediaType(mediaType)
	if err != nil {
		return false
	}
	for _, a := range c.Accept {
		a = strings.ToLower(a)
		if a == mt || a == "*/*" {
			return true
		}
		if family, ok := strings.CutSuffix(a, "/*"); ok && strings.HasPrefix(mt, family+"/") {
			return true
		}
	}
	return false
}

const fileUploadSchema = `{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "type": "object",
  "properties": {
    "accept": {"title": "Accepted file types", "type": "array", "maxItems": 50, "uniqueItems": true,
      "items": {"type": "string", "pattern": "^(\\*/\\*|[a-zA-Z0-9][a-zA-Z0-9!#$&^_.+-]*/(\\*|[a-zA-Z0-9][a-zA-Z0-9!#$&^_.+-]*))$"}},
    "max_bytes": {"title": "Maximum size (bytes)", "type": "integer", "minimum": 1, "maximum": 1073741824, "default": 10485760}
  },
  "additionalProperties": false
}`

// FileUploadTrigger starts an execution for each uploaded file; its output describes the stored file (name, type,
// size and the storage reference), never its bytes.
func FileUploadTrigger() engine.NodeType {
	return engine.NodeType{
		Name:         "trigger.file_upload",
		Category:     engine.CategoryTrigger,
		Title:        "File upload",
		Description:  "Starts the workflow when a file is uploaded. Outputs the file's name, type, size and where it is stored.",
		ConfigSchema: json.RawMessage(fileUploadSchema),
		Example:      json.RawMessage(`{"accept": ["text/csv", "image/*"], "max_bytes": 5242880}`),
		Compile: func(cfg json.RawMessage, _ *engine.Compiler) (engine.Runnable, error) {
			if _, err := ParseFileUploadConfig(cfg); err != nil {
				return nil, err
			}
			return triggerRun, nil
		},
	}
}
