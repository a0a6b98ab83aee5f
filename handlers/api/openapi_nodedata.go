package api

import (
	"net/http"

	"github.com/concertmaster/concertmaster/handlers/api/nodedata"
)

const tagNodeData = "Node data"

// nodeDataRouteDescriptions describes the routes of the editor's node view (handlers/api/nodedata).
func nodeDataRouteDescriptions() map[string]apiRoute {
	const st403, st404, st422 = http.StatusForbidden, http.StatusNotFound, http.StatusUnprocessableEntity
	with := func(success apiResponse, errs ...int) []apiResponse {
		return append([]apiResponse{success}, problems(errs...)...)
	}
	nodeID := []apiParam{{Name: "nodeID", In: "path", Type: "", Description: "The node's id in the definition."}}
	return map[string]apiRoute{
		"GET /api/v1/workflows/{id}/pins": {Tag: tagNodeData, Summary: "List pinned node data",
			Description: "The outputs pinned to nodes of the workflow's draft. Only a test run with pins=true uses them; triggered runs never do.",
			Responses:   with(ok(nodedata.PinsJSON{}, "The pins."), st404)},
		"PUT /api/v1/workflows/{id}/pins/{nodeID}": {Tag: tagNodeData, Summary: "Pin a node's output",
			Description: "Pins any JSON (at most 256 KiB) as the node's output for test runs, leaving on `port` (a condition's branch such as \"true\"; empty for the default output), so its children behind other ports are skipped as in a real run; replaces an earlier pin. A test run refuses (422, naming the node) a pin whose port the node does not have. Takes editing the workflow.",
			Params:      nodeID, Body: nodedata.PinInput{},
			Responses: with(ok(nodedata.PinJSON{}, "The pin."), st403, st404, st422)},
		"DELETE /api/v1/workflows/{id}/pins/{nodeID}": {Tag: tagNodeData, Summary: "Unpin a node",
			Description: "Removes the node's pinned data (404 when it had none). Takes editing the workflow.",
			Params:      nodeID, Responses: with(noContent("Unpinned."), st403, st404)},
		"GET /api/v1/workflows/{id}/last-test-run": {Tag: tagNodeData, Summary: "The last test run's node data",
			Description: "The newest manual run's trigger data and each node's latest input, output and error, so the editor shows them again after a reload. execution_id is null when the workflow was never run manually.",
			Responses:   with(ok(nodedata.LastRunJSON{}, "The run's node data."), st404)},
		"POST /api/v1/workflows/{id}/preview": {Tag: tagNodeData, Summary: "Preview an expression",
			Description: "Evaluates an expression, template or jq program against the given input (and trigger) under the sandbox limits of a run: time, memory, output size, depth. An evaluation that fails answers ok false with the error a run would fail with.",
			Body:        nodedata.PreviewInputJSON{},
			Responses:   with(ok(nodedata.PreviewJSON{}, "The value, or why it could not be computed."), st404, st422)},
	}
}
