package store

import (
	"context"
	"time"

	"github.com/google/uuid"

	"github.com/concertmaster/concertmaster/engine/actions"
	"github.com/concertmaster/concertmaster/platform/service"
	"github.com/concertmaster/concertmaster/platform/storage"
	"github.com/concertmaster/concertmaster/sql/db"
)

// Upload is a file held by the storage backend: an upload to a workflow, a form's file field, or a node's export.
type Upload struct {
	ID               uuid.UUID  `json:"id"`
	OrganizationID   uuid.UUID  `json:"organization_id"`
	Source           string     `json:"source"`
	WorkflowID       *uuid.UUID `json:"workflow_id,omitempty"`
	ExecutionID      *uuid.UUID `json:"execution_id,omitempty"`
	FormSubmissionID *uuid.UUID `json:"form_submission_id,omitempty"`
	// StorageKey is the backend's reference; it stays on the server side (a download goes by ID).
	StorageKey  string     `json:"-"`
	Filename    string     `json:"filename"`
	ContentType string     `json:"content_type"`
	Size        int64      `json:"size"`
	SHA256      []byte     `json:"sha256"`
	CreatedBy   *uuid.UUID `json:"created_by,omitempty"`
	ExpiresAt   *time.Time `json:"expires_at,omitempty"`
	CreatedAt   time.Time  `json:"created_at"`
}

// Upload sources.
const (
	UploadSourceUpload = "upload"
	UploadSourceForm   = "form"
	UploadSourceExport = "export"
)

// UploadGet returns a live file of an organization, for a download. Who may download it is the caller's to decide
// (by the visibility of its execution or workflow); another organization's file is not found.
func (s *Store) UploadGet(ctx context.Context, orgID, id uuid.UUID) (Upload, error) {
	row, err := s.q.UploadGet(ctx, db.UploadGetParams{ID: id, OrganizationID: orgID})
	if err != nil {
		return Upload{}, interpret(err, "file")
	}
	return uploadFromRow(row), nil
}

// UploadListForExecution lists the live files an execution produced, for its page.
func (s *Store) UploadListForExecution(ctx context.Context, orgID, executionID uuid.UUID) ([]Upload, error) {
	rows, err := s.q.UploadListForExecution(ctx, db.UploadListForExecutionParams{OrganizationID: orgID, ExecutionID: executionID})
	if err != nil {
		return nil, interpret(err, "files")
	}
	out := make([]Upload, len(rows))
	for i, r := range rows {
		out[i] = uploadFromRow(r)
	}
	return out, nil
}

// ExportCreate implements actions.RunRecords: the uploads row of a file a node exported.
func (s *Store) ExportCreate(ctx context.Context, f actions.ExportedFile) (uuid.UUID, error) {
	row, err := s.q.UploadCreate(ctx, db.UploadCreateParams{OrganizationID: f.OrganizationID, Source: UploadSourceExport,
		WorkflowID: f.WorkflowID, ExecutionID: f.ExecutionID, StorageKey: f.StorageKey, Filename: f.Filename,
		ContentType: f.ContentType, SizeBytes: f.Size, Sha256: f.SHA256, ExpiresAt: f.ExpiresAt})
	if err != nil {
		return uuid.Nil, interpret(err, "file")
	}
	return row.ID, nil
}

// FileByStorageKey implements actions.RunRecords: a node may read only its own organization's live files.
func (s *Store) FileByStorageKey(ctx context.Context, orgID uuid.UUID, key string) (actions.StoredFile, error) {
	row, err := s.q.UploadGetByStorageKey(ctx, db.UploadGetByStorageKeyParams{StorageKey: key, OrganizationID: orgID})
	if err != nil {
		return actions.StoredFile{}, interpret(err, "file")
	}
	return actions.StoredFile{ID: row.ID, StorageKey: row.StorageKey, Filename: row.Filename,
		ContentType: row.ContentType, Size: row.SizeBytes}, nil
}

// ExpiredFile is a file past its retention, for the sweep.
type ExpiredFile struct {
	ID         uuid.UUID
	StorageKey string
}

// UploadsExpired returns up to limit files whose retention ended before now, oldest first, in every organization.
func (s *Store) UploadsExpired(ctx context.Context, now time.Time, limit int) ([]ExpiredFile, error) {
	rows, err := s.q.UploadListExpired(ctx, db.UploadListExpiredParams{Now: now, MaxRows: int32(clampLimit(limit))})
	if err != nil {
		return nil, interpret(err, "files")
	}
	out := make([]ExpiredFile, len(rows))
	for i, r := range rows {
		out[i] = ExpiredFile{ID: r.ID, StorageKey: r.StorageKey}
	}
	return out, nil
}

// UploadDelete deletes a file's row; the sweep deletes the file from storage first, so a crash in between leaves
// a row to retry rather than an orphan file.
func (s *Store) UploadDelete(ctx context.Context, id uuid.UUID) error {
	return interpret(s.q.UploadDelete(ctx, id), "file")
}

// SweepExpiredUploads deletes the files whose retention ended before now, from storage and then from the table,
// in batches, and returns how many went. An UploadSweeper runs it periodically; it is safe to run on several
// instances at once, since deleting twice is harmless.
func (s *Store) SweepExpiredUploads(ctx context.Context, files storage.Backend, now time.Time) (int, error) {
	deleted := 0
	for {
		batch, err := s.UploadsExpired(ctx, now, 500)
		if err != nil {
			return deleted, err
		}
		for _, f := range batch {
			if err := files.Delete(ctx, f.StorageKey); err != nil {
				return deleted, err
			}
			if err := s.UploadDelete(ctx, f.ID); err != nil {
				return deleted, err
			}
			deleted++
		}
		if len(batch) < 500 {
			return deleted, nil
		}
	}
}

// DefaultUploadSweepInterval is how often expired files are swept: an expired file is no longer served anyway, so
// the sweep only frees space.
const DefaultUploadSweepInterval = time.Hour

// UploadSweeper is a service.Service running SweepExpiredUploads at once and then every interval.
type UploadSweeper struct{ *service.Loop }

// NewUploadSweeper returns a sweeper of files's expired files; the archetype's clock says when they expire.
func (s *Store) NewUploadSweeper(arch *service.Archetype, files storage.Backend, interval time.Duration) *UploadSweeper {
	return &UploadSweeper{service.NewPeriodic(arch.Clock, interval, func(ctx context.Context) {
		if n, err := s.SweepExpiredUploads(ctx, files, arch.Clock.Now()); err != nil && ctx.Err() == nil {
			arch.Logger.Error("sweeping expired files failed", "error", err)
		} else if n > 0 {
			arch.Logger.Info("swept expired files", "count", n)
		}
	})}
}

func uploadFromRow(r db.Upload) Upload {
	return Upload{ID: r.ID, OrganizationID: r.OrganizationID, Source: r.Source, WorkflowID: r.WorkflowID,
		ExecutionID: r.ExecutionID, FormSubmissionID: r.FormSubmissionID, StorageKey: r.StorageKey,
		Filename: r.Filename, ContentType: r.ContentType, Size: r.SizeBytes, SHA256: r.Sha256,
		CreatedBy: r.CreatedBy, ExpiresAt: r.ExpiresAt, CreatedAt: r.CreatedAt}
}
