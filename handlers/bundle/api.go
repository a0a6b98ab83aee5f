package bundle

import (
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/concertmaster/concertmaster/app/authz"
	appbundle "github.com/concertmaster/concertmaster/app/bundle"
	"github.com/concertmaster/concertmaster/handlers/httpx"
	"github.com/concertmaster/concertmaster/platform/fault"
)

// authorize checks that the caller may transfer their organization (org.transfer).
func (s *Handlers) authorize(r *http.Request) error {
	return httpx.Authorize(r, authz.OrgTransfer, authz.Org(s.Caller(r).Principal.OrgID))
}

// allowTransfer authorizes the caller for org.transfer and then counts the transfer against the organization's
// hourly budget: someone who may not transfer learns nothing and spends nothing.
func (s *Handlers) allowTransfer(r *http.Request) error {
	if err := s.authorize(r); err != nil {
		return err
	}
	return s.Allow(r, "org-transfer:"+s.Caller(r).Principal.OrgID.String(), TransfersPerHour, time.Hour)
}

// export writes the caller's organization's bundle as a JSON attachment.
func (s *Handlers) export(w http.ResponseWriter, r *http.Request) error {
	if err := s.allowTransfer(r); err != nil {
		return err
	}
	b, err := s.transfers().Export(r.Context(), s.Caller(r))
	if err != nil {
		return err
	}
	w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="concertmaster-bundle-%s.json"`,
		b.ExportedAt.Format("20060102-150405")))
	w.Header().Set("Cache-Control", "no-store")
	httpx.Respond(w, http.StatusOK, b)
	return nil
}

// apiExport is GET /api/v1/organization/export.
func (s *Handlers) apiExport(w http.ResponseWriter, r *http.Request) {
	if err := s.export(w, r); err != nil {
		s.Problem(w, r, err)
	}
}

// importBody parses and imports a bundle read from body, declared as length bytes (-1 when unknown): a declared
// length over the limit is refused before anything is read.
func (s *Handlers) importBody(r *http.Request, body io.Reader, length int64) (appbundle.Result, error) {
	if err := s.allowTransfer(r); err != nil {
		return appbundle.Result{}, err
	}
	if length > appbundle.MaxBytes {
		return appbundle.Result{}, fault.New(fault.TooLarge, "the bundle is larger than %d MiB", appbundle.MaxBytes>>20)
	}
	b, err := appbundle.Parse(body)
	if err != nil {
		return appbundle.Result{}, err
	}
	return s.transfers().Import(r.Context(), s.Caller(r), b)
}

// apiImport is POST /api/v1/organization/import: the body is a bundle; 201 with what was created.
func (s *Handlers) apiImport(w http.ResponseWriter, r *http.Request) {
	out, err := s.importBody(r, r.Body, r.ContentLength)
	if err != nil {
		s.Problem(w, r, err)
		return
	}
	httpx.Respond(w, http.StatusCreated, out)
}
