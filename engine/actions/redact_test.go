package actions

import (
	"encoding/base64"
	"errors"
	"net/url"
	"strings"
	"testing"

	"github.com/concertmaster/concertmaster/engine"
)

func TestRedactorReplacesSecretsInEveryForm(t *testing.T) {
	t.Parallel()
	var r Redactor
	r.addIntegration(KindHTTP, []byte(`{"auth":"basic","username":"ada","password":"p@ss w/rd","token":"abc"}`))
	basic := base64.StdEncoding.EncodeToString([]byte("ada:p@ss w/rd"))
	for _, in := range []string{"p@ss w/rd", url.QueryEscape("p@ss w/rd"), url.PathEscape("p@ss w/rd"),
		base64.StdEncoding.EncodeToString([]byte("p@ss w/rd")), "Basic " + basic} {
		if got := r.String("x " + in + " y"); strings.Contains(got, in) || !strings.Contains(got, Redacted) {
			t.Errorf("%q redacted to %q", in, got)
		}
	}
	// Secrets shorter than four bytes are left alone: they would garble every output.
	if got := r.String("abc"); got != "abc" {
		t.Errorf("short secret redacted: %q", got)
	}
	out, err := r.Result(engine.Output{Data: map[string]any{"list": []any{"p@ss w/rd", 1.0}, "p@ss w/rd": true}},
		engine.Permanent(errors.New("failed with p@ss w/rd")))
	if s := out.Data.(map[string]any); s["list"].([]any)[0] != Redacted || s[Redacted] != true {
		t.Errorf("output %v", out.Data)
	}
	if !engine.IsPermanent(err) || strings.Contains(err.Error(), "p@ss") {
		t.Errorf("error %v (permanent %v)", err, engine.IsPermanent(err))
	}
}

func TestOriginsMatchExactly(t *testing.T) {
	t.Parallel()
	hosts := HTTPSettings{BaseURL: "https://api.example.com/v1", AllowedHosts: []string{"http://10.0.0.5:8080", "Files.Example.com."}}.credentialHosts()
	for raw, want := range map[string]bool{
		"https://api.example.com/v1/x":       true,
		"https://API.example.com./x":         true,
		"https://api.example.com:443/x":      true,
		"https://files.example.com/x":        true,
		"http://10.0.0.5:8080/x":             true,
		"http://api.example.com/x":           false, // scheme
		"https://api.example.com:8443/x":     false, // port
		"https://api.example.com.evil.com/x": false,
		"https://evil.com/api.example.com":   false,
		"https://api.example.com@evil.com/x": false,
		"https://user@api.example.com/x":     false, // userinfo
		"https://10.0.0.5:8080/x":            false,
		"http://[::ffff:10.0.0.5]:8080/x":    true, // the same address
		"http://0xa.0.0.5:8080/x":            false,
		"https://sub.files.example.com/x":    false,
	} {
		u, err := url.Parse(raw)
		if err != nil {
			t.Fatal(err)
		}
		if got := allows(hosts, u); got != want {
			t.Errorf("%s: %v, want %v", raw, got, want)
		}
	}
	for _, bad := range []string{"*.example.com", "https://example.com/path", "user@example.com", "https://"} {
		if _, err := parseOrigin(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
