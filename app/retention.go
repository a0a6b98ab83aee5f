package app

import (
	"context"
	"time"

	"github.com/concertmaster/concertmaster/app/authz"
	"github.com/concertmaster/concertmaster/platform/fault"
	"github.com/concertmaster/concertmaster/sql/store"
)

// Retention is the use case of an organization's own execution retention: how long its succeeded and its failed
// executions are kept, longer or shorter than the instance's defaults. The maintenance job's pruner applies it.
type Retention struct {
	store    *store.Store
	defaults store.HistoryRetention
}

// RetentionSettings is an organization's retention as its settings show it: its own days (nil keeps the
// instance's default) beside those defaults (zero: kept forever).
type RetentionSettings struct {
	SucceededDays, FailedDays               *int
	DefaultSucceededDays, DefaultFailedDays int
}

// Get reads the caller's organization's retention; anyone who may see its executions may know how long they stay.
func (r *Retention) Get(ctx context.Context, c Caller) (RetentionSettings, error) {
	if err := authz.Authorize(c.Principal, authz.ExecutionView, authz.Org(c.Principal.OrgID)); err != nil {
		return RetentionSettings{}, err
	}
	own, err := r.store.OrganizationRetentionGet(ctx, c.Principal.OrgID)
	if err != nil {
		return RetentionSettings{}, err
	}
	return r.settings(own), nil
}

// Set changes the caller's organization's retention (admins and owners); the store audits it as
// organization.retention_changed. Days run from 1 to store.MaxRetentionDays; nil keeps the instance default.
func (r *Retention) Set(ctx context.Context, c Caller, succeededDays, failedDays *int) (RetentionSettings, error) {
	if err := authz.Authorize(c.Principal, authz.RetentionManage, authz.Org(c.Principal.OrgID)); err != nil {
		return RetentionSettings{}, err
	}
	var fields []fault.FieldError
	own := store.OrganizationRetention{OrganizationID: c.Principal.OrgID}
	for _, f := range []struct {
		name string
		days *int
		into **time.Duration
	}{{"succeeded_days", succeededDays, &own.Succeeded}, {"failed_days", failedDays, &own.Failed}} {
		if f.days == nil {
			continue
		}
		if *f.days < 1 || *f.days > store.MaxRetentionDays {
			fields = append(fields, fault.FieldError{Field: f.name, Message: "must be a whole number of days from 1 to 3650, or empty for the instance default"})
			continue
		}
		d := time.Duration(*f.days) * 24 * time.Hour
		*f.into = &d
	}
	if len(fields) > 0 {
		return RetentionSettings{}, fault.Fields("retention is not valid", fields...)
	}
	saved, err := r.store.OrganizationRetentionSet(ctx, c.Actor, own)
	if err != nil {
		return RetentionSettings{}, err
	}
	return r.settings(saved), nil
}

func (r *Retention) settings(own store.OrganizationRetention) RetentionSettings {
	days := func(d *time.Duration) *int {
		if d == nil {
			return nil
		}
		n := int(*d / (24 * time.Hour))
		return &n
	}
	return RetentionSettings{SucceededDays: days(own.Succeeded), FailedDays: days(own.Failed),
		DefaultSucceededDays: int(r.defaults.Succeeded / (24 * time.Hour)),
		DefaultFailedDays:    int(r.defaults.Failed / (24 * time.Hour))}
}
