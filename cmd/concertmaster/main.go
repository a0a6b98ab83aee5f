// Command concertmaster is the whole platform in one binary: the web server, the workers, the migrations and the
// administration commands.
//
//	concertmaster serve [--no-workers] [--pid-file PATH]   web + workers + scheduler
//	concertmaster worker                                   workers only (scale out by running more)
//	concertmaster migrate                                  apply every migration (application and River)
//	concertmaster user create --email E --password P --name N --org O [--role owner] [--instance-admin]
//	concertmaster probe URL                                a container health check: GET URL, succeed on 2xx
//	concertmaster version
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"

	// Schedules name IANA time zones; the database is built in so a minimal image (no /usr/share/zoneinfo) has it.
	_ "time/tzdata"
)

// version is set at build time with -ldflags "-X main.version=…"; otherwise it comes from the module's build info.
var version = ""

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, nil)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "concertmaster:", err)
		if errors.Is(err, errUsage) {
			os.Exit(2)
		}
		os.Exit(1)
	}
}

var errUsage = errors.New("usage: concertmaster serve [--no-workers] [--pid-file PATH] | worker | migrate | user create … | probe URL | version")

// run is main without the process: tests call it with their own arguments, environment and context. listening,
// when set, is told the HTTP server's address once it accepts connections.
func run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer, listening func(addr string)) error {
	if len(args) == 0 {
		return errUsage
	}
	switch cmd, rest := args[0], args[1:]; cmd {
	case "serve":
		fs := flag.NewFlagSet("serve", flag.ContinueOnError)
		noWorkers := fs.Bool("no-workers", false, "serve web requests only; run `concertmaster worker` elsewhere")
		pidFile := fs.String("pid-file", "", "keep the pid in this file; removing it stops serve gracefully")
		if err := fs.Parse(rest); err != nil {
			return errUsage
		}
		return serve(ctx, getenv, serveOptions{web: true, workers: !*noWorkers, pidFile: *pidFile, listening: listening})
	case "worker":
		return serve(ctx, getenv, serveOptions{workers: true})
	case "migrate":
		return migrate(ctx, getenv)
	case "user":
		return userCommand(ctx, rest, getenv, stdout)
	case "probe":
		return probe(ctx, rest, stdout)
	case "version":
		_, err := fmt.Fprintln(stdout, buildVersion())
		return err
	default:
		return errUsage
	}
}

func buildVersion() string {
	if version != "" {
		return version
	}
	if info, ok := debug.ReadBuildInfo(); ok && info.Main.Version != "" && info.Main.Version != "(devel)" {
		return info.Main.Version
	}
	return "dev"
}

// newLogger builds the process's one logger: JSON for machines, text for people at a terminal.
func newLogger(cfg *config, w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: cfg.LogLevel}
	if cfg.LogFormat == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}
