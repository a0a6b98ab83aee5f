package api

import (
	"net/http"

	"github.com/concertmaster/concertmaster/handlers/api/executionbulk"
)

// executionBulkRouteDescriptions describes the execution list's bulk actions (handlers/api/executionbulk).
func executionBulkRouteDescriptions() map[string]apiRoute {
	return map[string]apiRoute{
		"POST /api/v1/executions/bulk": {Tag: tagExecutions, Summary: "Retry, cancel or delete several executions",
			Description: "Up to 100 executions. Each is authorized on its own workflow (execution.retry, execution.cancel, execution.delete), done and audited on its own: the answer is 200 with one result per execution, refused ones saying why (not_found, forbidden, conflict, rate_limited). A retry starts from the start; only finished executions are deleted.",
			Body:        executionbulk.Input{},
			Responses: append([]apiResponse{ok(executionbulk.OutputJSON{}, "One result per execution, in the order given.")},
				problems(http.StatusUnprocessableEntity)...)},
	}
}
