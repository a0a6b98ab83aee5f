package mail_test

import (
	"context"
	"crypto/tls"
	"io"
	"mime"
	"mime/multipart"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/concertmaster/concertmaster/platform/fault"
	"github.com/concertmaster/concertmaster/platform/mail"
	"github.com/concertmaster/concertmaster/platform/mail/mailtest"
)

func sender(t *testing.T, srv *mailtest.Server) *mail.Sender {
	t.Helper()
	cfg, err := mail.ParseURL(srv.URL("ConcertMaster%20%3Cnoreply@example.com%3E"))
	if err != nil {
		t.Fatal(err)
	}
	s := mail.NewSender(cfg)
	if srv.RootCAs != nil {
		s.TLSConfig = &tls.Config{RootCAs: srv.RootCAs}
	}
	return s
}

func TestSendPlainTextOverEachTLSMode(t *testing.T) {
	t.Parallel()
	for name, opts := range map[string]mailtest.Options{
		"none":     {Username: "relay", Password: "s3cret"}, // loopback: credentials allowed in the clear
		"starttls": {TLS: true, Username: "ada", Password: "pw"},
		"implicit": {Implicit: true},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			srv := mailtest.Start(t, opts)
			rcpt, err := sender(t, srv).Send(context.Background(), mail.Message{
				To: []string{"Bob <bob@example.com>"}, Subject: "Hello", Text: "Hi Bob\n",
			})
			if err != nil {
				t.Fatalf("Send: %v", err)
			}
			got := srv.WaitFor(t, func(mailtest.Received) bool { return true })
			if got.Username != opts.Username || got.TLS != (opts.TLS || opts.Implicit) {
				t.Errorf("received with user %q tls=%v", got.Username, got.TLS)
			}
			if got.From != "noreply@example.com" || len(got.Recipients) != 1 || got.Recipients[0] != "bob@example.com" {
				t.Errorf("envelope %q → %v", got.From, got.Recipients)
			}
			m, body := got.Parsed(t)
			if m.Header.Get("Message-ID") != rcpt.MessageID || !strings.HasSuffix(rcpt.MessageID, "@example.com>") {
				t.Errorf("Message-ID %q, receipt %q", m.Header.Get("Message-ID"), rcpt.MessageID)
			}
			if rcpt.Reply == "" {
				t.Error("no server reply in the receipt")
			}
			if m.Header.Get("From") != `"ConcertMaster" <noreply@example.com>` || !strings.Contains(string(body), "Hi Bob") {
				t.Errorf("From %q body %q", m.Header.Get("From"), body)
			}
		})
	}
}

// TestMessageIDFollowsTheIdempotencyKey: messages sent with one idempotency key carry one Message-ID, whatever the
// key holds; another key, or none, gives another.
func TestMessageIDFollowsTheIdempotencyKey(t *testing.T) {
	t.Parallel()
	srv := mailtest.Start(t, mailtest.Options{})
	s := sender(t, srv)
	var ids []string
	for _, key := range []string{"run-1\r\nBcc: x@evil.example", "run-1\r\nBcc: x@evil.example", "run-2", "", ""} {
		rcpt, err := s.Send(context.Background(), mail.Message{To: []string{"bob@example.com"}, Subject: "Hi",
			Text: "Hi", IdempotencyKey: key})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, rcpt.MessageID)
	}
	if ids[0] != ids[1] || ids[1] == ids[2] || ids[3] == ids[4] || ids[3] == ids[0] {
		t.Errorf("Message-IDs %q: want the first two equal and the others all different", ids)
	}
	for _, m := range srv.Messages() {
		if parsed, _ := m.Parsed(t); parsed.Header.Get("Bcc") != "" || len(m.Recipients) != 1 {
			t.Errorf("a key became a header: %v, recipients %v", parsed.Header, m.Recipients)
		}
	}
}

func TestMultipartAlternativeMixedAndEncodedHeaders(t *testing.T) {
	t.Parallel()
	srv := mailtest.Start(t, mailtest.Options{})
	_, err := sender(t, srv).Send(context.Background(), mail.Message{
		To: []string{"Zoë <zoe@example.com>"}, Cc: []string{"carl@example.com"}, Bcc: []string{"hidden@example.com"},
		Subject: "Grüße — résumé attached",
		Text:    "Plain body with ünïcode and a very long line " + strings.Repeat("x", 200),
		HTML:    "<p>HTML body</p>",
		Attachments: []mail.Attachment{
			{Filename: "report é.csv", ContentType: "text/csv", Data: []byte("a,b\n1,2\n")},
			{Filename: "blob.bin", Data: make([]byte, 300)},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	got := srv.WaitFor(t, func(mailtest.Received) bool { return true })
	if len(got.Recipients) != 3 {
		t.Errorf("envelope recipients %v, want To, Cc and Bcc", got.Recipients)
	}
	if strings.Contains(string(got.Data), "hidden@example.com") {
		t.Error("the Bcc address appears in the message")
	}
	m, body := got.Parsed(t)
	dec := new(mime.WordDecoder)
	if subj, err := dec.DecodeHeader(m.Header.Get("Subject")); err != nil || subj != "Grüße — résumé attached" {
		t.Errorf("subject decodes to %q (%v), raw %q", subj, err, m.Header.Get("Subject"))
	}
	to, err := m.Header.AddressList("To")
	if err != nil || to[0].Name != "Zoë" {
		t.Errorf("To = %v, %v", to, err)
	}
	mt, params, _ := mime.ParseMediaType(m.Header.Get("Content-Type"))
	if mt != "multipart/mixed" {
		t.Fatalf("Content-Type %q", mt)
	}
	mr := multipart.NewReader(strings.NewReader(string(body)), params["boundary"])
	var kinds []string
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		ct, pp, _ := mime.ParseMediaType(p.Header.Get("Content-Type"))
		kinds = append(kinds, ct)
		switch ct {
		case "multipart/alternative":
			ar := multipart.NewReader(p, pp["boundary"])
			for {
				ap, err := ar.NextPart()
				if err != nil {
					break
				}
				b, _ := io.ReadAll(ap) // the multipart reader decodes quoted-printable
				kinds = append(kinds, ap.Header.Get("Content-Type"))
				if strings.HasPrefix(ap.Header.Get("Content-Type"), "text/plain") && !strings.Contains(string(b), "ünïcode") {
					t.Errorf("text part %q", b)
				}
			}
		case "text/csv":
			if p.FileName() != "report é.csv" {
				t.Errorf("attachment name %q", p.FileName())
			}
		}
	}
	want := "multipart/alternative,text/plain; charset=utf-8,text/html; charset=utf-8,text/csv,application/octet-stream"
	if strings.Join(kinds, ",") != want {
		t.Errorf("parts %v", kinds)
	}
	for _, line := range strings.Split(string(got.Data), "\r\n") {
		if len(line) > 998 {
			t.Errorf("line of %d bytes", len(line))
		}
	}
}

func TestHeaderInjectionIsImpossible(t *testing.T) {
	t.Parallel()
	srv := mailtest.Start(t, mailtest.Options{})
	s := sender(t, srv)
	_, err := s.Send(context.Background(), mail.Message{
		To: []string{"bob@example.com\r\nBcc: victim@example.com"}, Subject: "x", Text: "x",
	})
	if fault.CodeOf(err) != fault.Invalid || !mail.IsPermanent(err) {
		t.Errorf("address with CRLF: %v", err)
	}
	_, err = s.Send(context.Background(), mail.Message{
		To: []string{"bob@example.com"}, Subject: "Hi\r\nBcc: victim@example.com\r\n\r\nfake body", Text: "real",
		Attachments: []mail.Attachment{{Filename: "a\r\nX-Evil: 1.txt", Data: []byte("x")}},
	})
	if err != nil {
		t.Fatal(err)
	}
	got := srv.WaitFor(t, func(mailtest.Received) bool { return true })
	m, _ := got.Parsed(t)
	if m.Header.Get("Bcc") != "" || m.Header.Get("X-Evil") != "" || len(got.Recipients) != 1 {
		t.Errorf("a header was injected: %v", m.Header)
	}
	if strings.Contains(string(got.Data), "\r\nX-Evil") {
		t.Error("attachment name broke its header")
	}
}

func TestSendErrorsAndDeadlines(t *testing.T) {
	t.Parallel()
	t.Run("invalid message", func(t *testing.T) {
		t.Parallel()
		srv := mailtest.Start(t, mailtest.Options{})
		_, err := sender(t, srv).Send(context.Background(), mail.Message{})
		e := fault.As(err)
		if e.Code != fault.Invalid || len(e.Fields) < 2 {
			t.Errorf("empty message: %v", err)
		}
	})
	t.Run("rejected recipient is permanent", func(t *testing.T) {
		t.Parallel()
		srv := mailtest.Start(t, mailtest.Options{Reject: 550})
		_, err := sender(t, srv).Send(context.Background(), mail.Message{To: []string{"x@example.com"}, Text: "x"})
		if err == nil || !mail.IsPermanent(err) {
			t.Errorf("550: %v", err)
		}
	})
	t.Run("temporary rejection is retryable", func(t *testing.T) {
		t.Parallel()
		srv := mailtest.Start(t, mailtest.Options{Reject: 451})
		_, err := sender(t, srv).Send(context.Background(), mail.Message{To: []string{"x@example.com"}, Text: "x"})
		if err == nil || mail.IsPermanent(err) {
			t.Errorf("451: %v", err)
		}
	})
	t.Run("wrong password", func(t *testing.T) {
		t.Parallel()
		srv := mailtest.Start(t, mailtest.Options{Username: "u", Password: "right"})
		cfg, _ := mail.ParseURL("smtp://u:wrong@" + srv.Addr + "?tls=none&from=a@example.com")
		_, err := mail.NewSender(cfg).Send(context.Background(), mail.Message{To: []string{"x@example.com"}, Text: "x"})
		if err == nil || strings.Contains(err.Error(), "wrong") {
			t.Errorf("bad credentials: %v (the password must not appear in the error)", err)
		}
	})
	t.Run("a silent server is abandoned at the deadline", func(t *testing.T) {
		t.Parallel()
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ln.Close() })
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				t.Cleanup(func() { c.Close() }) // accept and never greet
			}
		}()
		cfg, _ := mail.ParseURL("smtp://" + ln.Addr().String() + "?tls=none&from=a@example.com")
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		done := make(chan error, 1)
		go func() {
			_, err := mail.NewSender(cfg).Send(ctx, mail.Message{To: []string{"x@example.com"}, Text: "x"})
			done <- err
		}()
		select {
		case err := <-done:
			if err == nil {
				t.Error("Send to a silent server succeeded")
			}
		case <-time.After(20 * time.Second):
			t.Fatal("Send ignored its context's deadline")
		}
	})
	t.Run("starttls required", func(t *testing.T) {
		t.Parallel()
		srv := mailtest.Start(t, mailtest.Options{}) // offers no STARTTLS
		cfg, _ := mail.ParseURL("smtp://" + srv.Addr + "?from=a@example.com")
		_, err := mail.NewSender(cfg).Send(context.Background(), mail.Message{To: []string{"x@example.com"}, Text: "x"})
		if err == nil || !strings.Contains(err.Error(), "STARTTLS") {
			t.Errorf("no STARTTLS: %v", err)
		}
	})
}

func TestParseURL(t *testing.T) {
	t.Parallel()
	cfg, err := mail.ParseURL("smtps://user:p%40ss@mail.example.com?from=Team%20%3Cteam@example.com%3E")
	if err != nil || cfg.Port != "465" || cfg.TLS != mail.TLSImplicit || cfg.Password != "p@ss" || cfg.From.Address != "team@example.com" {
		t.Errorf("smtps: %+v %v", cfg, err)
	}
	cfg, err = mail.ParseURL("smtp://mail.example.com")
	if err != nil || cfg.Port != "587" || cfg.TLS != mail.TLSStartTLS {
		t.Errorf("smtp: %+v %v", cfg, err)
	}
	for _, bad := range []string{"http://x", "smtp://", "smtp://h?tls=maybe", "smtp://u:p@mail.example.com?tls=none",
		"smtp://h?from=not-an-address"} {
		if _, err := mail.ParseURL(bad); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
}
