package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"time"
)

// pidFilePoll is how often serve checks that its --pid-file is still there. A quarter of a second is quick enough
// for a person and costs nothing.
const pidFilePoll = 250 * time.Millisecond

// holdPIDFile writes the process's id to path, and returns a context canceled once path is removed or holds
// another process's id, and a release function that stops watching and removes path if it still holds this
// process's id. Removing the file is a way to stop serve for whoever cannot signal it: `make run` relies on it,
// because GNU make, when a SIGINT is sent to it alone, does not pass the signal on but deletes the file its running
// recipe changed (this one) and waits for the recipe to end.
func holdPIDFile(ctx context.Context, path string) (context.Context, func(), error) {
	pid := strconv.Itoa(os.Getpid())
	if err := os.WriteFile(path, []byte(pid+"\n"), 0o644); err != nil {
		return nil, nil, fmt.Errorf("--pid-file: %w", err)
	}
	held := func() bool {
		b, err := os.ReadFile(path)
		return !errors.Is(err, fs.ErrNotExist) && (err != nil || strings.TrimSpace(string(b)) == pid)
	}
	ctx, cancel := context.WithCancel(ctx)
	watching := make(chan struct{})
	go func() {
		defer close(watching)
		tick := time.NewTicker(pidFilePoll)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
				if !held() {
					cancel()
					return
				}
			}
		}
	}()
	release := func() {
		cancel()
		<-watching
		if held() {
			os.Remove(path) //nolint:errcheck // a pid file left behind names a process that is gone
		}
	}
	return ctx, release, nil
}
