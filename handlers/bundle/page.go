package bundle

import (
	"errors"
	"fmt"
	"net/http"

	appbundle "github.com/concertmaster/concertmaster/app/bundle"
	"github.com/concertmaster/concertmaster/handlers/httpx"
	"github.com/concertmaster/concertmaster/platform/fault"
	"github.com/concertmaster/concertmaster/views"
)

// transferPage is GET /settings/transfer: the download button and the upload form (owners and admins).
func (s *Handlers) transferPage(w http.ResponseWriter, r *http.Request) {
	if err := s.authorize(r); err != nil {
		s.PageError(w, r, err)
		return
	}
	s.Render(w, r, http.StatusOK, "Move a team", views.Transfer(views.TransferPage{}))
}

// pageExport is GET /settings/transfer/export: the page's download, the bundle as an attachment.
func (s *Handlers) pageExport(w http.ResponseWriter, r *http.Request) {
	if err := s.export(w, r); err != nil {
		s.PageError(w, r, err)
	}
}

// pageImport is POST /settings/transfer/import: the uploaded bundle (multipart field "bundle") imported, and the
// page again with what was created or every problem of the bundle.
func (s *Handlers) pageImport(w http.ResponseWriter, r *http.Request) {
	if err := s.authorize(r); err != nil {
		s.PageError(w, r, err)
		return
	}
	// The multipart envelope adds a little to the bundle; MaxBytesReader keeps the whole read bounded.
	r.Body = http.MaxBytesReader(w, r.Body, appbundle.MaxBytes+1<<20)
	file, _, err := r.FormFile("bundle")
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			err = fault.New(fault.TooLarge, "the bundle is larger than %d MiB", appbundle.MaxBytes>>20)
		} else {
			err = fault.Fields("choose a bundle file", fault.FieldError{Field: "bundle", Message: "choose a bundle file"})
		}
		s.renderImport(w, r, appbundle.Result{}, err)
		return
	}
	defer file.Close()
	res, err := s.importBody(r, file, -1)
	s.renderImport(w, r, res, err)
}

func (s *Handlers) renderImport(w http.ResponseWriter, r *http.Request, res appbundle.Result, err error) {
	var page views.TransferPage
	status := http.StatusOK
	if err != nil {
		status = s.FormStatus(w, r, err)
		f := fault.As(err)
		page.Form.Error = httpx.Capitalize(f.Message)
		for _, fe := range f.Fields {
			if fe.Field == "bundle" {
				page.Form.Errors = map[string]string{"bundle": httpx.Capitalize(fe.Message)}
				continue
			}
			page.Problems = append(page.Problems, fe.Field+": "+fe.Message)
		}
	} else {
		page.Imported = fmt.Sprintf("Imported %d workflows, %d forms, %d integrations, %d notification channels and %d rules.",
			len(res.Workflows), len(res.Forms), len(res.Integrations), len(res.Channels), res.Rules)
		page.NeedsCredentials = res.NeedsCredentials
	}
	s.Render(w, r, status, "Move a team", views.Transfer(page))
}
