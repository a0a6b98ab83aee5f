package admin

import "testing"

func TestAdminJobsAuditNames(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ method, path, body, action, targetType, targetID string }{
		{"POST", "jobs/cancel", `{"ids":["1","22"]}`, "jobs.cancel", "river_job", "1,22"},
		{"POST", "jobs/retry", `{"ids":[3]}`, "jobs.retry", "river_job", "3"},
		{"PUT", "queues/executions/pause", `{}`, "jobs.queue.pause", "river_queue", "executions"},
		{"PATCH", "queues/executions", `{}`, "jobs.queue.update", "river_queue", "executions"},
		{"POST", "something/else/entirely", ``, "jobs.change", "", "POST something/else/entirely"},
	} {
		a, tt, id := jobsUIAuditEvent(c.method, c.path, []byte(c.body))
		if a != c.action || tt != c.targetType || id != c.targetID {
			t.Errorf("%s %s = %q %q %q", c.method, c.path, a, tt, id)
		}
	}
}
