package nodes

import (
	"encoding/json"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/concertmaster/concertmaster/engine"
)

// ErrorTriggerType is the type name of the error trigger. Storage looks for it in the definitions of active
// workflows when an execution fails, and refuses to start error workflows for the failure of one.
const ErrorTriggerType = "trigger.error"

// What a trigger.error watches.
const (
	// ErrorWatchAny: the failures of every workflow of the organization (but error workflows).
	ErrorWatchAny = "any"
	// ErrorWatchWorkflow: the failures of one workflow, WorkflowID.
	ErrorWatchWorkflow = "workflow"
)

// DefaultErrorTriggerBytes is how much of the failed execution's trigger data an error workflow receives when its
// trigger sets no max_trigger_bytes: enough for a typical webhook body, small enough to forward anywhere.
const DefaultErrorTriggerBytes = 4096

// MaxErrorTriggerBytes bounds max_trigger_bytes.
const MaxErrorTriggerBytes = 65536

// ErrorConfig is the config of trigger.error.
type ErrorConfig struct {
	// Watch is ErrorWatchAny (the default) or ErrorWatchWorkflow.
	Watch string `json:"watch,omitempty"`
	// WorkflowID is the watched workflow, of the same organization, when Watch is ErrorWatchWorkflow.
	WorkflowID string `json:"workflow_id,omitempty"`
	// MaxTriggerBytes bounds the failed execution's trigger data copied into this one's (encoded JSON); larger
	// data is replaced by a truncated text preview.
	MaxTriggerBytes int `json:"max_trigger_bytes,omitempty"`
}

// ParseErrorConfig decodes a trigger.error config and fills in its defaults.
func ParseErrorConfig(cfg json.RawMessage) (ErrorConfig, error) {
	c, err := decodeConfig[ErrorConfig](orEmpty(cfg))
	if err != nil {
		return c, err
	}
	if c.Watch == "" {
		c.Watch = ErrorWatchAny
	}
	if c.MaxTriggerBytes == 0 {
		c.MaxTriggerBytes = DefaultErrorTriggerBytes
	}
	return c, nil
}

const errorSchema = `{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "type": "object",
  "properties": {
    "watch": {"title": "Watch", "enum": ["any", "workflow"], "default": "any",
      "description": "any: the failures of every workflow of the organization; workflow: the failures of the workflow chosen below. Failures of error workflows never count."},
    "workflow_id": {"title": "Workflow id", "type": "string",
      "pattern": "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$",
      "description": "The watched workflow (its id, from its page), of this organization."},
    "max_trigger_bytes": {"title": "Trigger data kept (bytes)", "type": "integer", "minimum": 0, "maximum": 65536,
      "default": 4096, "description": "Larger trigger data of the failed execution is passed as a truncated text preview."}
  },
  "additionalProperties": false,
  "if": {"properties": {"watch": {"const": "workflow"}}, "required": ["watch"]},
  "then": {"required": ["workflow_id"]}
}`

// ErrorTrigger starts an execution when an execution of a watched workflow of the same organization fails.
func ErrorTrigger() engine.NodeType {
	return engine.NodeType{
		Name:         ErrorTriggerType,
		Category:     engine.CategoryTrigger,
		Title:        "Error (another workflow failed)",
		Description:  "Starts the workflow when an execution of the chosen workflow, or of any workflow of the organization, fails. Outputs the failed execution, its workflow, the failed node, the error, its trigger data (truncated) and a link to it.",
		ConfigSchema: json.RawMessage(errorSchema),
		Example:      json.RawMessage(`{"watch": "workflow", "workflow_id": "0190a5b4-7c1e-7b9a-8f3e-2d1c0b9a8f7e"}`),
		Compile: func(cfg json.RawMessage, _ *engine.Compiler) (engine.Runnable, error) {
			c, err := ParseErrorConfig(cfg)
			if err != nil {
				return nil, err
			}
			if c.Watch != ErrorWatchWorkflow && c.WorkflowID != "" {
				return nil, engine.ConfigError("workflow_id", `is only used with watch "workflow"`)
			}
			return triggerRun, nil
		},
	}
}

// Error codes of a failed execution, as an error workflow receives them (error.code).
const (
	// ErrorCodeNodeFailed: a node failed and the workflow stopped there (error.node names it).
	ErrorCodeNodeFailed = "node_failed"
	// ErrorCodeTimedOut: the execution ran past EXECUTION_TIMEOUT.
	ErrorCodeTimedOut = "execution_timed_out"
	// ErrorCodeExecutionFailed: the execution failed outside any node (a version that no longer compiles, trigger
	// data that cannot be read, a worker it kept stopping, a job the queue gave up on).
	ErrorCodeExecutionFailed = "execution_failed"
)

// FailedExecution is what storage knows of a failed execution, from which ErrorTriggerData builds the trigger data
// of an error workflow.
type FailedExecution struct {
	ID           string
	WorkflowID   string
	WorkflowName string
	Version      int32
	TriggerKind  string
	TriggerData  json.RawMessage
	Error        string
	FailedNodeID string
	// FailedNodeName and FailedNodeType come from the failed version's definition.
	FailedNodeName, FailedNodeType string
	StartedAt, FinishedAt          *time.Time
	// Link is the execution's page, BASE_URL included.
	Link string
}

// ErrorTriggerData is the trigger data (and so the trigger node's output) of an error workflow's execution:
//
//	{"execution": {"id", "url", "trigger_kind", "started_at", "finished_at"},
//	 "workflow": {"id", "name", "version"},
//	 "node": {"id", "name", "type"} | null,
//	 "error": {"code", "message"},
//	 "trigger": <the failed execution's trigger data> | null,
//	 "trigger_truncated": bool, "trigger_preview": "<the first max_trigger_bytes of it, as text>" (only when truncated)}
//
// Trigger data whose JSON is longer than maxBytes is left out and previewed instead, cut on a character boundary.
func ErrorTriggerData(f FailedExecution, maxBytes int) (json.RawMessage, error) {
	type node struct {
		ID   string `json:"id"`
		Name string `json:"name"`
		Type string `json:"type"`
	}
	out := map[string]any{
		"execution": map[string]any{"id": f.ID, "url": f.Link, "trigger_kind": f.TriggerKind,
			"started_at": f.StartedAt, "finished_at": f.FinishedAt},
		"workflow":          map[string]any{"id": f.WorkflowID, "name": f.WorkflowName, "version": f.Version},
		"node":              nil,
		"error":             map[string]string{"code": errorCode(f), "message": f.Error},
		"trigger":           nil,
		"trigger_truncated": false,
	}
	if f.FailedNodeID != "" {
		out["node"] = node{ID: f.FailedNodeID, Name: f.FailedNodeName, Type: f.FailedNodeType}
	}
	switch {
	case len(f.TriggerData) == 0:
	case len(f.TriggerData) <= maxBytes:
		out["trigger"] = f.TriggerData
	default:
		out["trigger_truncated"] = true
		out["trigger_preview"] = cutUTF8(string(f.TriggerData), maxBytes)
	}
	b, err := json.Marshal(out)
	if err != nil {
		return nil, fmt.Errorf("error trigger data: %w", err)
	}
	return b, nil
}

// errorCode classifies a failure for error workflows to branch on.
func errorCode(f FailedExecution) string {
	switch {
	case f.FailedNodeID != "":
		return ErrorCodeNodeFailed
	case f.Error == engine.ErrExecutionTimedOut:
		return ErrorCodeTimedOut
	}
	return ErrorCodeExecutionFailed
}

// cutUTF8 returns at most n bytes of s, not splitting a character.
func cutUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
