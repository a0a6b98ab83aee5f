package store

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/concertmaster/concertmaster/sql/db"
)

// ReceivedFile is a file that arrived from outside (a form's file field, an upload to a workflow) and is already
// in the storage backend, about to be recorded. Its uploads row is written in the transaction that accepts it; if
// that transaction fails, the caller deletes the stored file.
type ReceivedFile struct {
	// ID is the uploads row's id, chosen beforehand so data written before the row can name it; zero generates one.
	ID uuid.UUID
	// Field is the form field the file was sent in; empty for an upload to a workflow.
	Field       string
	StorageKey  string
	Filename    string
	ContentType string
	Size        int64
	SHA256      []byte
}

func (f *ReceivedFile) prepare() error {
	if f.ID != uuid.Nil {
		return nil
	}
	id, err := uuid.NewV7()
	if err != nil {
		return err
	}
	f.ID = id
	return nil
}

// NewUploadRun is a file uploaded to a workflow whose trigger is trigger.file_upload.
type NewUploadRun struct {
	Head WorkflowHead
	File ReceivedFile
}

// UploadRun records an uploaded file and starts an execution of the workflow with it, in one transaction with the
// audit row: the uploads row (source upload), the execution with its River job, whose trigger data is {upload_id,
// filename, content_type, size, sha256, ref}. ref is the storage reference nodes open the file by, as a file
// export's ref; sha256 is hex.
func (s *Store) UploadRun(ctx context.Context, by Actor, in NewUploadRun) (Upload, Execution, error) {
	f := in.File
	if err := f.prepare(); err != nil {
		return Upload{}, Execution{}, err
	}
	trigger, err := json.Marshal(map[string]any{"upload_id": f.ID, "filename": f.Filename,
		"content_type": f.ContentType, "size": f.Size, "sha256": hex.EncodeToString(f.SHA256), "ref": f.StorageKey})
	if err != nil {
		return Upload{}, Execution{}, fmt.Errorf("upload trigger data: %w", err)
	}
	h := in.Head
	var up Upload
	var exec Execution
	err = s.inTx(ctx, func(tx pgx.Tx, q *db.Queries) error {
		var err error
		exec, err = s.executionCreateTx(ctx, tx, q, NewExecution{OrganizationID: h.OrganizationID,
			WorkflowID: h.WorkflowID, WorkflowVersionID: h.VersionID, Version: h.Version, TriggerKind: "file_upload",
			TriggerData: trigger, Priority: h.Priority, CreatedBy: by.UserID}, nil)
		if err != nil {
			return err
		}
		row, err := q.UploadCreateReceived(ctx, db.UploadCreateReceivedParams{ID: f.ID, OrganizationID: h.OrganizationID,
			Source: UploadSourceUpload, WorkflowID: &h.WorkflowID, ExecutionID: &exec.ID, StorageKey: f.StorageKey,
			Filename: f.Filename, ContentType: f.ContentType, SizeBytes: f.Size, Sha256: f.SHA256, CreatedBy: by.UserID})
		if err != nil {
			return interpret(err, "file")
		}
		up = uploadFromRow(row)
		return audit(ctx, q, by, auditRecord{OrganizationID: &h.OrganizationID, Action: "workflow.upload",
			TargetType: "execution", TargetID: exec.ID.String(),
			After: map[string]any{"workflow_id": h.WorkflowID, "upload_id": f.ID, "filename": f.Filename,
				"content_type": f.ContentType, "size": f.Size}})
	})
	if err != nil {
		return Upload{}, Execution{}, err
	}
	return up, exec, nil
}
