package main

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestProbe: `concertmaster probe URL` succeeds on a 2xx answer only, and refuses what is not an http URL.
func TestProbe(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/readyz" {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	defer srv.Close()
	for _, tc := range []struct {
		url, wantErr string
	}{
		{srv.URL + "/readyz", ""},
		{srv.URL + "/down", "answered 503"},
		{"ftp://127.0.0.1/", "want an http:// URL"},
		{"http://127.0.0.1:1/readyz", "probe:"},
	} {
		err := run(context.Background(), []string{"probe", tc.url}, envFrom(nil), io.Discard, nil)
		if (err == nil) != (tc.wantErr == "") || (err != nil && !strings.Contains(err.Error(), tc.wantErr)) {
			t.Errorf("probe %s: %v, want %q", tc.url, err, tc.wantErr)
		}
	}
}
