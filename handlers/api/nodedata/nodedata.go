// Package nodedata is the API of the editor's node view (under /api/v1/workflows/{id}): data pinned to nodes of
// the draft (GET, PUT, DELETE pins), the last test run's per-node input and output (so the node view survives a
// reload), and the live preview of an expression, template or jq program against a node's input. It is an adapter
// over app.NodeData; package api registers and describes these routes (openapi_nodedata.go).
//
// It may import httpx, app and engine; it imports no surface.
package nodedata

import (
	"encoding/json"
	"net/http"
	"time"

	"github.com/google/uuid"

	"github.com/concertmaster/concertmaster/app"
	"github.com/concertmaster/concertmaster/engine"
	"github.com/concertmaster/concertmaster/handlers/httpx"
	"github.com/concertmaster/concertmaster/sql/store"
)

// PinJSON is one node's pinned output and the output port it leaves on ("" the default port).
type PinJSON struct {
	NodeID    string          `json:"node_id"`
	Port      string          `json:"port"`
	Data      json.RawMessage `json:"data"`
	UpdatedAt time.Time       `json:"updated_at"`
}

// PinsJSON is the answer of GET /api/v1/workflows/{id}/pins.
type PinsJSON struct {
	Items []PinJSON `json:"items"`
}

// PinInput is the body of PUT /api/v1/workflows/{id}/pins/{nodeID}: the output to pin (any JSON, at most 256 KiB)
// and the output port it leaves on: a branch of a condition ("true", a switch's case), "" or left out for the
// default port of a node that does not branch.
type PinInput struct {
	Data json.RawMessage `json:"data" validate:"required"` // the tags document; app validates
	Port string          `json:"port,omitempty" validate:"max=200"`
}

// NodeDataJSON is one node's latest run in the last test run.
type NodeDataJSON struct {
	NodeID string          `json:"node_id"`
	Status string          `json:"status"`
	Input  json.RawMessage `json:"input,omitempty"`
	Output json.RawMessage `json:"output,omitempty"`
	Error  string          `json:"error,omitempty"`
}

// LastRunJSON is the answer of GET /api/v1/workflows/{id}/last-test-run; execution_id is null (and nodes empty)
// when the workflow was never run manually.
type LastRunJSON struct {
	ExecutionID *uuid.UUID      `json:"execution_id"`
	Status      string          `json:"status"`
	Trigger     json.RawMessage `json:"trigger"`
	Nodes       []NodeDataJSON  `json:"nodes"`
}

// PreviewInputJSON is the body of POST /api/v1/workflows/{id}/preview.
type PreviewInputJSON struct {
	Kind    string          `json:"kind" validate:"required,oneof=expression template jq"` // the tag documents
	Source  string          `json:"source" validate:"required"`
	Input   json.RawMessage `json:"input,omitempty"`
	Trigger json.RawMessage `json:"trigger,omitempty"`
}

// PreviewJSON is the answer of a preview: the value, or the error the same source would fail a run with.
type PreviewJSON struct {
	OK     bool   `json:"ok"`
	Result any    `json:"result,omitempty"`
	Error  string `json:"error,omitempty"`
}

// Handlers serves the node view's routes over the shared kit.
type Handlers struct {
	*httpx.Kit
	App *app.App
}

func pinJSON(p store.NodePin) PinJSON {
	return PinJSON{NodeID: p.NodeID, Port: p.Port, Data: p.Data, UpdatedAt: p.UpdatedAt}
}

// Pins is GET /api/v1/workflows/{id}/pins: every pinned node output of the draft, for anyone who may see it.
func (s *Handlers) Pins(w http.ResponseWriter, r *http.Request) {
	id, err := httpx.PathID(r, "id")
	if err != nil {
		s.Problem(w, r, err)
		return
	}
	pins, err := s.App.NodeData.Pins(r.Context(), s.Caller(r), id)
	if err != nil {
		s.Problem(w, r, err)
		return
	}
	out := PinsJSON{Items: make([]PinJSON, 0, len(pins))}
	for _, p := range pins {
		out.Items = append(out.Items, pinJSON(p))
	}
	httpx.Respond(w, http.StatusOK, out)
}

// Pin is PUT /api/v1/workflows/{id}/pins/{nodeID} {data, port}: pins a node's output; it takes editing the
// workflow.
func (s *Handlers) Pin(w http.ResponseWriter, r *http.Request) {
	id, err := httpx.PathID(r, "id")
	if err != nil {
		s.Problem(w, r, err)
		return
	}
	var in PinInput
	if err := httpx.DecodeJSON(w, r, &in); err != nil {
		s.Problem(w, r, err)
		return
	}
	p, err := s.App.NodeData.Pin(r.Context(), s.Caller(r), id, r.PathValue("nodeID"), in.Port, in.Data)
	if err != nil {
		s.Problem(w, r, err)
		return
	}
	httpx.Respond(w, http.StatusOK, pinJSON(p))
}

// Unpin is DELETE /api/v1/workflows/{id}/pins/{nodeID}.
func (s *Handlers) Unpin(w http.ResponseWriter, r *http.Request) {
	id, err := httpx.PathID(r, "id")
	if err != nil {
		s.Problem(w, r, err)
		return
	}
	if err := s.App.NodeData.Unpin(r.Context(), s.Caller(r), id, r.PathValue("nodeID")); err != nil {
		s.Problem(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// LastTestRun is GET /api/v1/workflows/{id}/last-test-run: the newest manual run's trigger and each node's latest
// run (loop items and retries fold into the last one); execution_id null when the workflow was never test-run.
func (s *Handlers) LastTestRun(w http.ResponseWriter, r *http.Request) {
	id, err := httpx.PathID(r, "id")
	if err != nil {
		s.Problem(w, r, err)
		return
	}
	exec, runs, found, err := s.App.NodeData.LastTestRun(r.Context(), s.Caller(r), id)
	if err != nil {
		s.Problem(w, r, err)
		return
	}
	if !found {
		httpx.Respond(w, http.StatusOK, LastRunJSON{Trigger: json.RawMessage("null"), Nodes: []NodeDataJSON{}})
		return
	}
	httpx.Respond(w, http.StatusOK, LastRunJSON{ExecutionID: &exec.ID, Status: exec.Status, Trigger: exec.TriggerData,
		Nodes: latest(runs)})
}

// latest keeps the last run of each node in the order the nodes first ran.
func latest(runs []engine.NodeRun) []NodeDataJSON {
	at := map[string]int{}
	out := []NodeDataJSON{}
	for _, r := range runs {
		d := NodeDataJSON{NodeID: r.NodeID, Status: string(r.Status), Input: r.Input, Output: r.Output, Error: r.Error}
		if i, ok := at[r.NodeID]; ok {
			out[i] = d
			continue
		}
		at[r.NodeID] = len(out)
		out = append(out, d)
	}
	return out
}

// Preview is POST /api/v1/workflows/{id}/preview: evaluates an expression, template or jq program against the
// given input under the sandbox limits of a run. An evaluation that fails (a type error, a timeout) answers 200
// with ok false and the error, as the editor shows it under the field; a malformed request is 422.
func (s *Handlers) Preview(w http.ResponseWriter, r *http.Request) {
	id, err := httpx.PathID(r, "id")
	if err != nil {
		s.Problem(w, r, err)
		return
	}
	var in PreviewInputJSON
	if err := httpx.DecodeJSON(w, r, &in); err != nil {
		s.Problem(w, r, err)
		return
	}
	out, err := s.App.NodeData.Preview(r.Context(), s.Caller(r), id, app.PreviewInput{Kind: in.Kind,
		Source: in.Source, Input: in.Input, Trigger: in.Trigger})
	if msg, ok := app.PreviewFailure(err); ok {
		httpx.Respond(w, http.StatusOK, PreviewJSON{Error: msg})
		return
	}
	if err != nil {
		s.Problem(w, r, err)
		return
	}
	httpx.Respond(w, http.StatusOK, PreviewJSON{OK: true, Result: out})
}
