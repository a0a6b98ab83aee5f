package api

import (
	"net/http"
	"reflect"

	"github.com/concertmaster/concertmaster/app/bundle"
)

const tagTransfer = "Organization transfer"

// bundleComponentNames keep the bundle's types apart from the API's own workflows, forms and integrations.
var bundleComponentNames = map[reflect.Type]string{
	reflect.TypeFor[bundle.Bundle]():          "OrganizationBundle",
	reflect.TypeFor[bundle.Workflow]():        "BundleWorkflow",
	reflect.TypeFor[bundle.WorkflowVersion](): "BundleWorkflowVersion",
	reflect.TypeFor[bundle.Form]():            "BundleForm",
	reflect.TypeFor[bundle.Integration]():     "BundleIntegration",
	reflect.TypeFor[bundle.Channel]():         "BundleNotificationChannel",
	reflect.TypeFor[bundle.Rule]():            "BundleNotificationRule",
	reflect.TypeFor[bundle.Result]():          "BundleImportResult",
}

// bundleRouteDescriptions describes the organization export and import (served by handlers/bundle, documented
// here with every other API route).
func bundleRouteDescriptions() map[string]apiRoute {
	const st403, st413, st422, st429 = http.StatusForbidden, http.StatusRequestEntityTooLarge, http.StatusUnprocessableEntity, http.StatusTooManyRequests
	return map[string]apiRoute{
		"GET /api/v1/organization/export": {Tag: tagTransfer, Summary: "Export the organization as a bundle (owners and admins)",
			Description: "A versioned JSON document (format concertmaster.bundle, version 1) of the organization's workflows that are not archived, each with every version, its forms, integrations, notification channels and rules. No secret is included: integrations and channels that had some say needs_credentials. Audited as organization.export; counts against the organization's transfers per hour.",
			Responses:   append([]apiResponse{ok(bundle.Bundle{}, "The bundle, as an attachment.")}, problems(st403, st429)...)},
		"POST /api/v1/organization/import": {Tag: tagTransfer, Summary: "Import a bundle into the organization (owners and admins)",
			Description: "The body is a bundle as the export writes it, at most 20 MiB (413 beyond). Everything is written in one transaction under new ids, with the references between the items remapped; workflows arrive inactive, integrations and channels without secrets (listed in needs_credentials). Every definition is validated as a save validates it. A name already used gets \" (imported)\"; a form address taken on the instance gets a suffix. Any problem refuses the whole import with 422 naming each field by its path in the bundle (workflows[2].versions[0].definition.nodes[1].config.integration_id). Audited as organization.import.",
			Body:        bundle.Bundle{},
			Responses: append([]apiResponse{{Status: http.StatusCreated, Description: "The new id of each item by its id in the bundle.", Body: bundle.Result{}}},
				problems(st403, st413, st422, st429)...)},
	}
}
