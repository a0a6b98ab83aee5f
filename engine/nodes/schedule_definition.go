package nodes

import (
	"encoding/json"
	"errors"
	"time"

	"github.com/concertmaster/concertmaster/engine"
)

// ErrNotScheduled says a definition's trigger is not a schedule.
var ErrNotScheduled = errors.New("the workflow's trigger is not a schedule")

// NextScheduledRun is when a definition's trigger.schedule fires next after a time; ErrNotScheduled when its trigger
// is something else. The scheduler and the API (next run times) share it.
func NextScheduledRun(definition json.RawMessage, after time.Time) (time.Time, error) {
	def, err := engine.ParseDefinition(definition)
	if err != nil {
		return time.Time{}, err
	}
	for _, n := range def.Nodes {
		if n.Type == "trigger.schedule" {
			return NextRun(n.Config, after)
		}
	}
	return time.Time{}, ErrNotScheduled
}
