package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"
)

// probe is `concertmaster probe URL`: a container health check for an image without a shell or curl (the
// distroless image). It GETs URL, which must be an http URL of this host, and succeeds on a 2xx answer within 5 s.
func probe(ctx context.Context, args []string, stdout io.Writer) error {
	if len(args) != 1 {
		return errUsage
	}
	u, err := url.Parse(args[0])
	if err != nil || u.Scheme != "http" || u.Host == "" {
		return fmt.Errorf("probe: want an http:// URL such as http://127.0.0.1:8080/readyz, got %q", args[0])
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return fmt.Errorf("probe: %w", err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("probe: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("probe: %s answered %d", u.Redacted(), resp.StatusCode)
	}
	_, err = fmt.Fprintln(stdout, "ok")
	return err
}
