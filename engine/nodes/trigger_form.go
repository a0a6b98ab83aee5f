package nodes

import (
	"encoding/json"

	"github.com/concertmaster/concertmaster/engine"
)

// FormConfig is the config of trigger.form.
type FormConfig struct {
	// FormID is the form whose submissions start the workflow.
	FormID string `json:"form_id"`
}

const formSchema = `{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "type": "object",
  "properties": {
    "form_id": {"title": "Form", "type": "string", "minLength": 1, "maxLength": 100}
  },
  "required": ["form_id"],
  "additionalProperties": false
}`

// FormTrigger starts an execution for each valid submission of a form; its output is the submitted fields.
func FormTrigger() engine.NodeType {
	return engine.NodeType{
		Name:         "trigger.form",
		Category:     engine.CategoryTrigger,
		Title:        "Form submission",
		Description:  "Starts the workflow when someone submits the chosen form. Outputs the submitted fields.",
		ConfigSchema: json.RawMessage(formSchema),
		Example:      json.RawMessage(`{"form_id": "contact"}`),
		Compile: func(cfg json.RawMessage, _ *engine.Compiler) (engine.Runnable, error) {
			if _, err := decodeConfig[FormConfig](cfg); err != nil {
				return nil, err
			}
			return triggerRun, nil
		},
	}
}
