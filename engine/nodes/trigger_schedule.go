package nodes

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/concertmaster/concertmaster/engine"
)

// MinScheduleInterval is the shortest "every": a schedule firing faster than this is a load test, not a schedule.
const MinScheduleInterval = time.Second

// ScheduleConfig is the config of trigger.schedule: either a cron expression (in Timezone, UTC by default) or a
// fixed interval.
type ScheduleConfig struct {
	Cron     string          `json:"cron,omitempty"`
	Timezone string          `json:"timezone,omitempty"`
	Every    engine.Duration `json:"every,omitempty"`
}

// Schedule is a parsed trigger.schedule config, ready to say when it fires next.
type Schedule struct {
	cron  cron.Schedule
	every time.Duration
	loc   *time.Location
	// atHours is set when the cron names particular hours: such a schedule means times of day, and fires once when
	// clocks fall back. One that runs every hour means elapsed time, and runs through the repeated hour too.
	atHours bool
}

// cronParser accepts the five standard fields and descriptors such as @daily; "@every" is refused because the
// every field says it better, and seconds because a per-second cron is a load test.
var cronParser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// ParseSchedule checks a trigger.schedule config. Errors are *engine.FieldError naming the bad field.
func ParseSchedule(cfg json.RawMessage) (*Schedule, error) {
	c, err := decodeConfig[ScheduleConfig](orEmpty(cfg))
	if err != nil {
		return nil, err
	}
	switch {
	case c.Cron != "" && c.Every != 0:
		return nil, engine.ConfigError("every", "set either cron or every, not both")
	case c.Every != 0:
		if c.Timezone != "" {
			return nil, engine.ConfigError("timezone", "a timezone applies to cron schedules only")
		}
		if c.Every.Std() < MinScheduleInterval {
			return nil, engine.ConfigError("every", fmt.Sprintf("must be at least %s", MinScheduleInterval))
		}
		return &Schedule{every: c.Every.Std()}, nil
	case c.Cron != "":
		if strings.HasPrefix(c.Cron, "@every") {
			return nil, engine.ConfigError("cron", "use the every field for fixed intervals")
		}
		sched, err := cronParser.Parse(c.Cron)
		if err != nil {
			return nil, engine.ConfigError("cron", "invalid cron expression: "+err.Error())
		}
		loc := time.UTC
		if c.Timezone != "" {
			if loc, err = time.LoadLocation(c.Timezone); err != nil {
				return nil, engine.ConfigError("timezone", fmt.Sprintf("unknown timezone %q", c.Timezone))
			}
		}
		allHours := uint64(1)<<24 - 1
		spec, isSpec := sched.(*cron.SpecSchedule)
		return &Schedule{cron: sched, loc: loc, atHours: isSpec && spec.Hour&allHours != allHours}, nil
	}
	return nil, engine.ConfigError("cron", "set cron or every")
}

// Next returns the first firing time strictly after after. Intervals are aligned to multiples of the interval since
// the zero time, so ticks stay on the same grid across restarts and several scheduler instances agree on them.
func (s *Schedule) Next(after time.Time) time.Time {
	if s.every > 0 {
		return after.Truncate(s.every).Add(s.every)
	}
	next := s.cron.Next(after.In(s.loc))
	// When clocks fall back, an hour's wall-clock times come twice and cron would fire at both. A schedule at
	// particular hours means times of day, so it fires at the first only, as Vixie cron does. (When clocks spring
	// forward, a time that does not exist that day is skipped.)
	for s.atHours && isRepeatedWallClock(next) {
		next = s.cron.Next(next)
	}
	return next
}

// isRepeatedWallClock reports whether t is the second occurrence of its wall-clock time, in a time zone whose clocks
// were just set back (by the usual hour, or the half hour a few zones use).
func isRepeatedWallClock(t time.Time) bool {
	for _, shift := range []time.Duration{time.Hour, 30 * time.Minute} {
		earlier := t.Add(-shift).In(t.Location())
		if earlier.Hour() == t.Hour() && earlier.Minute() == t.Minute() && earlier.Day() == t.Day() {
			return true
		}
	}
	return false
}

// NextRun returns when a schedule with the given trigger.schedule config fires next after after, for the scheduler
// that enqueues its executions.
func NextRun(cfg json.RawMessage, after time.Time) (time.Time, error) {
	s, err := ParseSchedule(cfg)
	if err != nil {
		return time.Time{}, err
	}
	return s.Next(after), nil
}

const scheduleSchema = `{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "type": "object",
  "properties": {
    "cron": {"title": "Cron expression", "type": "string", "minLength": 1, "maxLength": 200,
      "description": "Five fields (minute hour day-of-month month day-of-week) or @hourly, @daily, @weekly, @monthly."},
    "timezone": {"title": "Timezone", "type": "string", "maxLength": 64, "description": "IANA name such as Europe/Paris; UTC when empty."},
    "every": {"title": "Every", "type": "string", "pattern": "^([0-9]+(\\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$",
      "description": "A fixed interval such as 30s, 5m or 1h."}
  },
  "oneOf": [{"required": ["cron"]}, {"required": ["every"]}],
  "additionalProperties": false
}`

// ScheduleTrigger starts an execution on a cron schedule or at a fixed interval; its output is the tick
// ({scheduled_at}) the scheduler passes as trigger data.
func ScheduleTrigger() engine.NodeType {
	return engine.NodeType{
		Name:         "trigger.schedule",
		Category:     engine.CategoryTrigger,
		Title:        "Schedule",
		Description:  "Starts the workflow on a cron schedule or at a fixed interval.",
		ConfigSchema: json.RawMessage(scheduleSchema),
		Example:      json.RawMessage(`{"cron": "0 9 * * 1-5", "timezone": "Europe/Paris"}`),
		Compile: func(cfg json.RawMessage, _ *engine.Compiler) (engine.Runnable, error) {
			if _, err := ParseSchedule(cfg); err != nil {
				return nil, err
			}
			return triggerRun, nil
		},
	}
}
