package store

import (
	"context"
	"encoding/json"
	"strings"

	"github.com/google/uuid"

	"github.com/concertmaster/concertmaster/platform/fault"
	"github.com/concertmaster/concertmaster/sql/db"
)

// Searching executions by their trigger data.
//
// A search of the form trigger.<path>=<value> (trigger.body.email=ann@example.com, trigger.query.id=42) finds the
// executions whose trigger data holds value at path: a JSON containment test (@>), so that it means the same on
// every trigger's shape. Trigger data carries no index on purpose: a GIN index on it would make every ingested row
// cost several times what it costs now (the ingest path is the product's hot path, README "Performance"), to speed
// up a search people run rarely. A search reads instead at most TriggerSearchScan of the newest executions the
// other filters select, through the list's own indexes; its next page (the cursor) reads the next window. A value
// that reads as a JSON number or boolean matches that value and its text alike ("42" and 42), since a form posts
// text and a JSON webhook numbers.

// TriggerSearchPrefix starts a search by trigger data.
const TriggerSearchPrefix = "trigger."

// TriggerSearchScan is how many executions one trigger-data search reads at most, newest first.
const TriggerSearchScan = 5000

// maxTriggerPathDepth bounds a search's path.
const maxTriggerPathDepth = 8

// IsTriggerSearch reports whether a search box's text is a search by trigger data.
func IsTriggerSearch(q string) bool {
	return strings.HasPrefix(strings.TrimSpace(q), TriggerSearchPrefix) && strings.Contains(q, "=")
}

var errTriggerSearch = fault.Fields("bad search", fault.FieldError{Field: "q",
	Message: "search trigger data as trigger.<field>.<field>=<value>, e.g. trigger.body.email=ann@example.com"})

// parseTriggerSearch turns trigger.a.b=v into the containment documents {"a":{"b":v}} and, when v also reads as
// text, {"a":{"b":"v"}} (alt, nil otherwise).
func parseTriggerSearch(q string) (contains, alt []byte, err error) {
	q = strings.TrimSpace(q)
	if len([]rune(q)) > MaxSearchLength {
		return nil, nil, fault.Fields("bad search", fault.FieldError{Field: "q", Message: "must be at most 200 characters"})
	}
	path, value, ok := strings.Cut(strings.TrimPrefix(q, TriggerSearchPrefix), "=")
	if !ok {
		return nil, nil, errTriggerSearch
	}
	keys := strings.Split(strings.TrimSpace(path), ".")
	if len(keys) > maxTriggerPathDepth {
		return nil, nil, errTriggerSearch
	}
	for _, k := range keys {
		if k == "" {
			return nil, nil, errTriggerSearch
		}
	}
	value = strings.TrimSpace(value)
	var typed any = value
	var text any
	var v any
	if json.Unmarshal([]byte(value), &v) == nil {
		switch v.(type) {
		case float64, bool:
			typed, text = json.RawMessage(value), value
		case string:
			typed = v // a quoted value: the text inside the quotes
		}
	}
	nest := func(leaf any) []byte {
		doc := leaf
		for i := len(keys) - 1; i >= 0; i-- {
			doc = map[string]any{keys[i]: doc}
		}
		out, _ := json.Marshal(doc) // maps of strings and a valid leaf always marshal
		return out
	}
	contains = nest(typed)
	if text != nil {
		alt = nest(text)
	}
	return contains, alt, nil
}

// executionTriggerSearch runs a search by trigger data (see above).
func (s *Store) executionTriggerSearch(ctx context.Context, orgID uuid.UUID, f ExecutionFilter) ([]Execution, error) {
	contains, alt, err := parseTriggerSearch(f.Query)
	if err != nil {
		return nil, err
	}
	p := db.ExecutionTriggerSearchParams{OrganizationID: orgID, WorkflowID: f.WorkflowID, CreatedAfter: f.CreatedAfter,
		BeforeID: f.BeforeID, ScanRows: TriggerSearchScan, Contains: contains, MaxRows: int32(clampLimit(f.Limit))}
	if alt != nil {
		p.ContainsAlt = alt
	}
	p.Status, p.Kind = nullable(f.Status), nullable(f.Kind)
	rows, err := s.r.ExecutionTriggerSearch(ctx, p)
	if err != nil {
		return nil, interpret(err, "executions")
	}
	return executionsFromRows(rows), nil
}
