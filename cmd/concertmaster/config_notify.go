package main

import (
	"strconv"

	"github.com/concertmaster/concertmaster/app"
)

// loadNotificationConfig reads the settings of notification messages.
func loadNotificationConfig(cfg *config, get func(name, def string) string, bad func(name, format string, args ...any)) {
	n, err := strconv.Atoi(get("NOTIFICATION_TRIGGER_MAX_BYTES", strconv.Itoa(app.DefaultTriggerExcerptBytes)))
	if err != nil || n < 0 || n > 65536 {
		bad("NOTIFICATION_TRIGGER_MAX_BYTES", "want a size in bytes from 0 to 65536")
		return
	}
	cfg.NotificationTriggerMaxBytes = n
}
