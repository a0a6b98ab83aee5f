// Package mailtest runs a real SMTP server in-process (emersion/go-smtp) for tests: it accepts every message,
// optionally over TLS and with PLAIN authentication, and keeps what it received.
package mailtest

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"math/big"
	"mime"
	"mime/multipart"
	"net"
	"net/mail"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// Received is one message as the server got it.
type Received struct {
	From       string
	Recipients []string
	Data       []byte
	// Username is who authenticated, "" when nobody did.
	Username string
	// TLS reports whether the message came over an encrypted connection.
	TLS bool
}

// Parsed parses the message's headers and returns the raw body.
func (r Received) Parsed(t testing.TB) (*mail.Message, []byte) {
	t.Helper()
	m, err := mail.ReadMessage(bytes.NewReader(r.Data))
	if err != nil {
		t.Fatalf("mailtest: parse message: %v", err)
	}
	body, _ := io.ReadAll(m.Body)
	return m, body
}

// Attachments returns the decoded parts of a multipart message by file name ("" for the bodies, joined) and
// their content types.
func (r Received) Attachments(t testing.TB) (map[string][]byte, map[string]string) {
	t.Helper()
	m, body := r.Parsed(t)
	files, types := map[string][]byte{}, map[string]string{}
	var walk func(ctype string, rd io.Reader)
	walk = func(ctype string, rd io.Reader) {
		mt, params, err := mime.ParseMediaType(ctype)
		if err != nil {
			t.Fatalf("mailtest: content type %q: %v", ctype, err)
		}
		if !strings.HasPrefix(mt, "multipart/") {
			return
		}
		mr := multipart.NewReader(rd, params["boundary"])
		for {
			p, err := mr.NextPart()
			if err == io.EOF {
				return
			}
			if err != nil {
				t.Fatalf("mailtest: %v in %s", err, r.Data)
			}
			data, _ := io.ReadAll(p)
			if strings.HasPrefix(p.Header.Get("Content-Type"), "multipart/") {
				walk(p.Header.Get("Content-Type"), bytes.NewReader(data))
				continue
			}
			if p.Header.Get("Content-Transfer-Encoding") == "base64" {
				data, _ = base64.StdEncoding.DecodeString(strings.Join(strings.Fields(string(data)), ""))
			}
			name := p.FileName()
			files[name] = append(files[name], data...)
			types[name] = p.Header.Get("Content-Type")
		}
	}
	walk(m.Header.Get("Content-Type"), bytes.NewReader(body))
	return files, types
}

// Options configures a Server.
type Options struct {
	// Username and Password, when set, are required (AUTH PLAIN).
	Username, Password string
	// TLS enables STARTTLS with a self-signed certificate for 127.0.0.1; Implicit makes the listener speak TLS
	// from the first byte instead.
	TLS, Implicit bool
	// Reject makes the server refuse every recipient with this code (e.g. 550).
	Reject int
	// Quote makes a refused AUTH quote the credentials it was given, as careless servers do, so that a test can
	// check they are redacted wherever the reply lands.
	Quote bool
	// Hold, when set, keeps each message's DATA command waiting until it receives from Hold (a send lets one
	// message through, closing lets all), so that a test can watch the sender while its e-mail is in flight.
	Hold chan struct{}
}

// Server is a running SMTP server.
type Server struct {
	Addr string
	// RootCAs trusts the server's certificate, for a client's tls.Config.
	RootCAs *x509.CertPool

	opts Options
	tls  *tls.Config
	mu   sync.Mutex
	msgs []Received
	got  chan struct{}
	// srv and ln are the running server and its listener, nil while stopped.
	srv *smtp.Server
	ln  net.Listener
	// answer, when not zero, is the code every MAIL command gets (Answer).
	answer atomic.Int32
}

// Start runs a server on 127.0.0.1 until t ends.
func Start(t testing.TB, opts Options) *Server {
	t.Helper()
	s := &Server{opts: opts, got: make(chan struct{}, 1000)}
	if opts.TLS || opts.Implicit {
		cert, pool := selfSigned(t)
		s.RootCAs = pool
		s.tls = &tls.Config{Certificates: []tls.Certificate{cert}}
	}
	s.listen(t, "127.0.0.1:0")
	t.Cleanup(s.Stop)
	return s
}

// listen serves on addr.
func (s *Server) listen(t testing.TB, addr string) {
	t.Helper()
	srv := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		return &session{server: s, conn: c}, nil
	}))
	srv.Domain = "127.0.0.1"
	srv.AllowInsecureAuth = !s.opts.TLS && !s.opts.Implicit
	srv.ReadTimeout, srv.WriteTimeout = 30*time.Second, 30*time.Second
	srv.MaxMessageBytes = 10 << 20
	srv.TLSConfig = s.tls

	var ln net.Listener
	var err error
	if s.opts.Implicit {
		ln, err = tls.Listen("tcp", addr, s.tls)
	} else {
		ln, err = net.Listen("tcp", addr)
	}
	if err != nil {
		t.Fatalf("mailtest: listen: %v", err)
	}
	s.Addr = ln.Addr().String()
	s.mu.Lock()
	s.srv, s.ln = srv, ln
	s.mu.Unlock()
	go func() { _ = srv.Serve(ln) }()
}

// Stop closes the server: connections are refused until Restart, as from a mail server that is down.
func (s *Server) Stop() {
	s.mu.Lock()
	srv, ln := s.srv, s.ln
	s.srv, s.ln = nil, nil
	s.mu.Unlock()
	if srv != nil {
		// The listener is closed here too: the server knows it only once Serve has started.
		ln.Close()
		srv.Close()
	}
}

// Restart serves again, on the same address, after Stop.
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	s.listen(t, s.Addr)
}

// Answer makes every MAIL command get code (421 "try again later", 550 …) until Answer(0); the message is not
// taken. A 4xx code is what a server that is overloaded, greylisting or shutting down answers.
func (s *Server) Answer(code int) { s.answer.Store(int32(code)) }

// URL is an SMTP_URL for this server.
func (s *Server) URL(from string) string {
	mode := "none"
	scheme := "smtp"
	switch {
	case s.opts.Implicit:
		mode, scheme = "implicit", "smtps"
	case s.opts.TLS:
		mode = "starttls"
	}
	user := ""
	if s.opts.Username != "" {
		user = s.opts.Username + ":" + s.opts.Password + "@"
	}
	return fmt.Sprintf("%s://%s%s?tls=%s&from=%s", scheme, user, s.Addr, mode, from)
}

// Messages returns what the server received so far.
func (s *Server) Messages() []Received {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Received(nil), s.msgs...)
}

// WaitFor polls until a received message satisfies match, failing the test after 10 seconds.
func (s *Server) WaitFor(t testing.TB, match func(Received) bool) Received {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		for _, m := range s.Messages() {
			if match(m) {
				return m
			}
		}
		select {
		case <-s.got:
		case <-time.After(20 * time.Millisecond):
		case <-deadline:
			t.Fatalf("mailtest: no matching message among %d received", len(s.Messages()))
		}
	}
}

type session struct {
	server   *Server
	conn     *smtp.Conn
	username string
	from     string
	rcpts    []string
}

func (s *session) AuthMechanisms() []string {
	if s.server.opts.Username == "" {
		return nil
	}
	return []string{sasl.Plain}
}

func (s *session) Auth(mech string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(identity, username, password string) error {
		if username != s.server.opts.Username || password != s.server.opts.Password {
			if s.server.opts.Quote {
				return &smtp.SMTPError{Code: 535, Message: "invalid credentials " + username + ":" + password}
			}
			return errors.New("invalid credentials")
		}
		s.username = username
		return nil
	}), nil
}

func (s *session) Mail(from string, _ *smtp.MailOptions) error {
	if code := int(s.server.answer.Load()); code != 0 {
		return &smtp.SMTPError{Code: code, Message: "not now: answered as the test asked"}
	}
	if s.server.opts.Username != "" && s.username == "" {
		return smtp.ErrAuthRequired
	}
	s.from = from
	return nil
}

func (s *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	if s.server.opts.Reject != 0 {
		return &smtp.SMTPError{Code: s.server.opts.Reject, Message: "recipient refused"}
	}
	s.rcpts = append(s.rcpts, to)
	return nil
}

func (s *session) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	if s.server.opts.Hold != nil {
		<-s.server.opts.Hold
	}
	_, isTLS := s.conn.TLSConnectionState()
	s.server.mu.Lock()
	s.server.msgs = append(s.server.msgs, Received{From: s.from, Recipients: s.rcpts, Data: b, Username: s.username, TLS: isTLS})
	s.server.mu.Unlock()
	select {
	case s.server.got <- struct{}{}:
	default:
	}
	return nil
}

func (s *session) Reset()        { s.from, s.rcpts = "", nil }
func (s *session) Logout() error { return nil }

func selfSigned(t testing.TB) (tls.Certificate, *x509.CertPool) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "mailtest"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, DNSNames: []string{"localhost"},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool
}
