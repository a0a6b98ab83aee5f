package api

import "net/http"

// payloadRouteDescriptions describes the route of an execution's stored payloads (handlers/api/payloads).
func payloadRouteDescriptions() map[string]apiRoute {
	return map[string]apiRoute{
		"GET /api/v1/executions/{id}/payloads/{key}": {Tag: tagExecutions, Summary: "Read a large value of an execution",
			Description: `Trigger data and node inputs and outputs larger than PAYLOAD_INLINE_LIMIT are kept in the file storage; in GET executions/{id} they appear as {"$payload": {"key", "size", "sha256", "preview"}}. This streams the whole value, as JSON, for anyone who may see the execution; a key the execution does not refer to is not found.`,
			Params:      []apiParam{{Name: "key", In: "path", Required: true, Description: "The reference's key (32 hexadecimal digits)."}},
			Responses:   append([]apiResponse{{Status: http.StatusOK, Description: "The value, as JSON."}}, problems(http.StatusNotFound)...)},
	}
}
