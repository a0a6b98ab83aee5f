// Package store is the one adapter between the application and its PostgreSQL database. It wraps the
// sqlc-generated queries of sql/db, owns transactions, maps pgx errors to fault codes and returns the
// application's own types: sqlc's row types never leave this package.
package store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"

	"github.com/concertmaster/concertmaster/engine/queue"
	"github.com/concertmaster/concertmaster/platform/fault"
	"github.com/concertmaster/concertmaster/platform/tracing"
	"github.com/concertmaster/concertmaster/sql/db"
)

// Store reads and writes the platform's data.
type Store struct {
	pool *pgxpool.Pool
	q    *db.Queries
	// r runs the reads that tolerate lag (lists, searches, the dashboard, statistics): on the primary, or through a
	// read replica (SetReadReplica).
	r *db.Queries
	// jobs is an insert-only River client: the store enqueues jobs in the same transaction as the rows that need
	// them, while working them is the business of the worker processes' own clients.
	jobs *river.Client[pgx.Tx]
	// lanes picks each new execution's River priority so that organizations interleave (jobs.go).
	lanes *queue.Lanes
	// errorWorkflows is how failures start error workflows (SetErrorWorkflowOptions).
	errorWorkflows ErrorWorkflowOptions
	// tracing starts the ingest spans (SetTracing); off by default.
	tracing *tracing.Tracing
	// payloads keeps large values in the file storage backend (UsePayloads, payloads.go); nil keeps all inline.
	payloads *payloadStore
}

// SetTracing makes the ingester trace its group commits. Call it before the store is used.
func (s *Store) SetTracing(t *tracing.Tracing) { s.tracing = t }

// New returns a Store over pool.
func New(pool *pgxpool.Pool) (*Store, error) {
	jobs, err := river.NewClient(riverpgxv5.New(pool), &river.Config{})
	if err != nil {
		return nil, fmt.Errorf("river insert client: %w", err)
	}
	q := db.New(pool)
	return &Store{pool: pool, q: q, r: q, jobs: jobs,
		lanes: queue.NewLanes(queue.DefaultOrgQueueShare, nil), tracing: tracing.Off()}, nil
}

// Jobs is the store's insert-only River client, for what needs one beside the store itself (River's UI).
func (s *Store) Jobs() *river.Client[pgx.Tx] { return s.jobs }

// Pool is the connection pool, for the parts that need it directly (River, sessions, health checks).
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

// Ping reports whether the database answers.
func (s *Store) Ping(ctx context.Context) error { return s.pool.Ping(ctx) }

// inTx runs fn in one transaction, committing when it returns nil and rolling back otherwise. A statement refused
// for its input is an Invalid fault whichever query of fn met it (see invalidInput).
func (s *Store) inTx(ctx context.Context, fn func(tx pgx.Tx, q *db.Queries) error) error {
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		return fn(tx, s.q.WithTx(tx))
	})
	if down := unreachable(err); down != nil {
		return down
	}
	if fault.CodeOf(err) == fault.Internal {
		if invalid := invalidInput(err, "the input"); invalid != nil {
			return invalid
		}
	}
	return err
}

// inputErrorCodes are the SQLSTATEs of a value PostgreSQL refuses as input.
var inputErrorCodes = map[string]bool{
	"22021": true, // character_not_in_repertoire: invalid UTF-8, a NUL in text
	"22P05": true, // untranslatable_character: \u0000 in jsonb
	"22P02": true, // invalid_text_representation: a malformed number, uuid or JSON text
	"22003": true, // numeric_value_out_of_range
	"54001": true, // statement_too_complex: a value nested past max_stack_depth
}

// invalidInput is the Invalid fault of a statement PostgreSQL refused for the values it was given, nil for any
// other error. The handlers check input before it gets here (NUL characters, invalid UTF-8, depth, number size);
// this is the second line, so input that slips past them is still the caller's 422 and not a server error.
func invalidInput(err error, what string) error {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		return nil
	}
	if inputErrorCodes[pgErr.Code] || strings.HasPrefix(pgErr.Code, "2203") { // 2203x: the SQL/JSON errors
		return fault.Wrap(err, fault.Invalid, what+" holds a value the database cannot store")
	}
	return nil
}

// interpret maps a database error to a fault: a missing row is NotFound, a unique violation Conflict, a check
// violation or a value refused as input (invalidInput) Invalid; anything else stays an internal error with its
// context.
func interpret(err error, what string) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return fault.Wrap(err, fault.NotFound, what+" not found")
	}
	if down := unreachable(err); down != nil {
		return down
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch pgErr.Code {
		case "23505": // unique_violation
			return fault.Wrap(err, fault.Conflict, what+" already exists")
		case "23514", "22001": // check_violation, string_data_right_truncation
			return fault.Wrap(err, fault.Invalid, what+" is not valid")
		case "23503": // foreign_key_violation
			return fault.Wrap(err, fault.NotFound, what+" refers to something that does not exist")
		}
	}
	if invalid := invalidInput(err, what); invalid != nil {
		return invalid
	}
	return fmt.Errorf("%s: %w", what, err)
}

// databaseRetryAfter is the Retry-After of a request refused because the database cannot be reached: about what a
// restart or a failover takes.
const databaseRetryAfter = 2 * time.Second

// unreachable returns an Unavailable fault (503 with Retry-After) when err says that the database cannot be reached
// or ended the session: it is restarting, shutting down, failing over, out of connections, or the network is down.
// It returns nil for any other error, and for an error that is already a fault. A write refused so was not
// committed, except in the rare case of a connection lost during the commit itself, whose outcome is unknown
// (a caller retrying with an Idempotency-Key is safe either way).
func unreachable(err error) error {
	if err == nil || errors.As(err, new(*fault.Error)) || errors.Is(err, context.Canceled) ||
		errors.Is(err, context.DeadlineExceeded) {
		return nil // a caller that gave up or ran out of time is not a database that went away
	}
	const message = "Temporarily unavailable (the database cannot be reached); try again in a few seconds."
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		// 08: connection exception; 57P01-57P03: admin or crash shutdown, cannot connect now; 53300: too many
		// connections.
		if strings.HasPrefix(pgErr.Code, "08") || strings.HasPrefix(pgErr.Code, "57P0") || pgErr.Code == "53300" {
			return fault.Unreachable(message, databaseRetryAfter, err)
		}
		return nil
	}
	var connectErr *pgconn.ConnectError
	var netErr net.Error
	if errors.As(err, &connectErr) || errors.As(err, &netErr) || errors.Is(err, io.EOF) ||
		errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) || pgconn.SafeToRetry(err) {
		return fault.Unreachable(message, databaseRetryAfter, err)
	}
	return nil
}
