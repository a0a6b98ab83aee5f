// Package mail sends e-mail over SMTP: the password-reset and invitation mails of the web app, and later the
// action.email node. A Sender is configured from one URL (SMTP_URL), honours its context's deadline and
// cancellation, and returns the Message-ID it gave the message and the server's reply, for the delivery record.
package mail

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/mail"
	"net/url"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/concertmaster/concertmaster/platform/fault"
)

// TLSMode is how a connection to the SMTP server is secured.
type TLSMode string

// The modes.
const (
	// TLSStartTLS upgrades a plain connection with STARTTLS and refuses a server that does not offer it (port 587).
	TLSStartTLS TLSMode = "starttls"
	// TLSImplicit speaks TLS from the first byte (port 465, "smtps").
	TLSImplicit TLSMode = "implicit"
	// TLSNone sends in the clear: for a relay on the same host or network. Credentials are refused in this mode
	// unless the server is on a loopback address.
	TLSNone TLSMode = "none"
)

// Config is where and how to send.
type Config struct {
	Host     string
	Port     string
	Username string
	Password string
	// From is the default sender, used when a Message has none.
	From *mail.Address
	TLS  TLSMode
	// HelloName is the name given in EHLO; "localhost" when empty.
	HelloName string
}

// ParseURL reads a configuration from a URL such as
//
//	smtp://user:pass@smtp.example.com:587?from=ConcertMaster%20<noreply@example.com>&tls=starttls
//
// The scheme smtps means implicit TLS (default port 465); smtp defaults to STARTTLS on port 587. The query's tls
// overrides the mode (starttls, implicit or none); from sets the default sender.
func ParseURL(raw string) (Config, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return Config{}, errors.New("not a URL")
	}
	var cfg Config
	switch u.Scheme {
	case "smtp":
		cfg.TLS, cfg.Port = TLSStartTLS, "587"
	case "smtps":
		cfg.TLS, cfg.Port = TLSImplicit, "465"
	default:
		return Config{}, errors.New("want an smtp:// or smtps:// URL")
	}
	cfg.Host = u.Hostname()
	if cfg.Host == "" {
		return Config{}, errors.New("the URL names no host")
	}
	if p := u.Port(); p != "" {
		cfg.Port = p
	}
	if u.User != nil {
		cfg.Username = u.User.Username()
		cfg.Password, _ = u.User.Password()
	}
	q := u.Query()
	switch mode := TLSMode(q.Get("tls")); mode {
	case "":
	case TLSStartTLS, TLSImplicit, TLSNone:
		cfg.TLS = mode
	default:
		return Config{}, fmt.Errorf("tls=%q: want starttls, implicit or none", mode)
	}
	if from := q.Get("from"); from != "" {
		a, err := parseAddress(from)
		if err != nil {
			return Config{}, fmt.Errorf("from=: not an e-mail address")
		}
		cfg.From = a
	}
	cfg.HelloName = q.Get("hello")
	if cfg.TLS == TLSNone && cfg.Username != "" && !isLoopback(cfg.Host) {
		return Config{}, errors.New("tls=none with a user name would send the password in the clear; use starttls or implicit")
	}
	return cfg, nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Sender sends messages through one SMTP server, one connection per message.
type Sender struct {
	cfg Config
	// TLSConfig, when set, is used for TLS (tests set their own root CAs); by default the system roots verify the
	// server named in the configuration.
	TLSConfig *tls.Config
	// Timeout bounds one Send when the context has no earlier deadline.
	Timeout time.Duration
	now     func() time.Time
}

// NewSender returns a sender for cfg, with a one-minute default timeout.
func NewSender(cfg Config) *Sender {
	return &Sender{cfg: cfg, Timeout: time.Minute, now: time.Now}
}

// Configured reports whether s can send at all: a nil Sender stands for "SMTP is not configured".
func (s *Sender) Configured() bool { return s != nil }

// Receipt is what the server said about an accepted message.
type Receipt struct {
	// MessageID is the Message-ID header the message was sent with, angle brackets included.
	MessageID string
	// Reply is the server's answer to the message's data, often with its queue id.
	Reply string
}

// Send delivers m. A message that is not valid is a fault.Invalid error; an error the server answered with a 5xx
// code is permanent (see IsPermanent); anything else (network, 4xx, timeout) may succeed on a retry.
func (s *Sender) Send(ctx context.Context, m Message) (Receipt, error) {
	msg, err := compose(m, s.cfg.From, s.now())
	if err != nil {
		return Receipt{}, err
	}
	if _, ok := ctx.Deadline(); !ok && s.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, s.Timeout)
		defer cancel()
	}
	deadline, _ := ctx.Deadline()

	// Every error names the server, so that a failed delivery says which one would not take it.
	server := net.JoinHostPort(s.cfg.Host, s.cfg.Port)
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", server)
	if err != nil {
		return Receipt{}, fmt.Errorf("smtp: connect to %s: %w", server, err)
	}
	// go-smtp sets a deadline of its own around each command, so the context's end closes the connection instead,
	// which interrupts whatever it is waiting for.
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	defer conn.Close()

	c, err := s.handshake(ctx, conn, time.Until(deadline))
	if err != nil {
		if ctx.Err() != nil {
			err = ctx.Err()
		}
		return Receipt{}, fmt.Errorf("smtp: connect to %s: %w", server, err)
	}
	defer c.Close()

	reply, err := s.transact(c, msg)
	if err != nil {
		if ctx.Err() != nil {
			return Receipt{}, fmt.Errorf("smtp: %s: %w", server, ctx.Err())
		}
		return Receipt{}, fmt.Errorf("smtp: %s: %w", server, err)
	}
	return Receipt{MessageID: msg.messageID, Reply: reply}, nil
}

// handshake secures conn as configured and greets the server.
func (s *Sender) handshake(ctx context.Context, conn net.Conn, timeout time.Duration) (*smtp.Client, error) {
	tlsConfig := s.TLSConfig.Clone()
	if tlsConfig == nil {
		tlsConfig = &tls.Config{}
	}
	if tlsConfig.ServerName == "" {
		tlsConfig.ServerName = s.cfg.Host
	}
	tlsConfig.MinVersion = max(tlsConfig.MinVersion, tls.VersionTLS12)
	var err error
	if s.cfg.TLS == TLSImplicit {
		tc := tls.Client(conn, tlsConfig)
		if err := tc.HandshakeContext(ctx); err != nil {
			return nil, err
		}
		conn = tc
	}
	var c *smtp.Client
	if s.cfg.TLS == TLSStartTLS {
		// Refuses a server that does not offer STARTTLS rather than falling back to the clear.
		if c, err = smtp.NewClientStartTLS(conn, tlsConfig); err != nil {
			return nil, err
		}
	} else {
		c = smtp.NewClient(conn)
	}
	if timeout > 0 {
		c.CommandTimeout, c.SubmissionTimeout = timeout, timeout
	}
	if err := c.Hello(orDefault(s.cfg.HelloName, "localhost")); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func (s *Sender) transact(c *smtp.Client, msg composed) (string, error) {
	if s.cfg.Username != "" {
		if err := c.Auth(sasl.NewPlainClient("", s.cfg.Username, s.cfg.Password)); err != nil {
			return "", fmt.Errorf("authenticate: %w", err)
		}
	}
	if err := c.Mail(msg.from, nil); err != nil {
		return "", err
	}
	for _, r := range msg.recipients {
		if err := c.Rcpt(r, nil); err != nil {
			return "", fmt.Errorf("recipient %s: %w", r, err)
		}
	}
	w, err := c.Data()
	if err != nil {
		return "", err
	}
	if _, err := w.Write(msg.data); err != nil {
		return "", err
	}
	resp, err := w.CloseWithResponse()
	if err != nil {
		return "", err
	}
	_ = c.Quit()
	return resp.StatusText, nil
}

// IsPermanent reports whether a Send error will not go away by retrying: an invalid message, or a server answer
// in the 5xx range (unknown recipient, refused sender, failed authentication).
func IsPermanent(err error) bool {
	if fault.CodeOf(err) == fault.Invalid {
		return true
	}
	var se *smtp.SMTPError
	return errors.As(err, &se) && se.Code >= 500
}
