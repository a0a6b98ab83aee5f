package mail

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"net/textproto"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/concertmaster/concertmaster/platform/fault"
)

// Message is one e-mail. Addresses are RFC 5322 ("Ada <ada@example.com>" or "ada@example.com"); at least one of To,
// Cc or Bcc and one of Text or HTML are required. Bcc recipients receive the message but appear in no header.
type Message struct {
	// From overrides the sender's default From address.
	From        string
	ReplyTo     string
	To, Cc, Bcc []string
	Subject     string
	Text        string
	HTML        string
	Attachments []Attachment
	// IdempotencyKey, when set, makes the Message-ID a function of it (and of the sender's domain): the message sent
	// again with the same key, after its answer or its record was lost, has the Message-ID of the first sending,
	// which mail systems and readers use to drop duplicates. Unset, the Message-ID is random.
	IdempotencyKey string
}

// Attachment is a file sent with a message. Data is held in memory: messages are bounded in size, and a retry must
// be able to send the same bytes again.
type Attachment struct {
	Filename    string
	ContentType string
	Data        []byte
}

// maxSubjectBytes keeps the Subject header well under SMTP's 998-byte line limit once encoded.
const maxSubjectBytes = 500

// composed is a message rendered for the wire, with the envelope taken from it.
type composed struct {
	from       string   // envelope sender (bare address)
	recipients []string // envelope recipients (bare addresses), To, Cc and Bcc
	messageID  string
	data       []byte
}

// envelope is a message's checked addresses: its sender, where answers go, the header lists and every recipient.
type envelope struct {
	from       *mail.Address
	replyTo    *mail.Address
	lists      map[string][]*mail.Address
	recipients []string
}

// checkMessage checks a message's addresses, bodies and attachments, naming every field that is wrong at once.
func checkMessage(m Message, defaultFrom *mail.Address) (envelope, error) {
	var problems []fault.FieldError
	bad := func(field, msg string) { problems = append(problems, fault.FieldError{Field: field, Message: msg}) }

	from := defaultFrom
	if strings.TrimSpace(m.From) != "" {
		a, err := parseAddress(m.From)
		if err != nil {
			bad("from", "is not a valid e-mail address")
		}
		from = a
	}
	if from == nil && len(problems) == 0 {
		bad("from", "is required (set from= in SMTP_URL or on the message)")
	}
	var replyTo *mail.Address
	if strings.TrimSpace(m.ReplyTo) != "" {
		a, err := parseAddress(m.ReplyTo)
		if err != nil {
			bad("reply_to", "is not a valid e-mail address")
		}
		replyTo = a
	}
	lists := map[string][]*mail.Address{}
	var recipients []string
	for _, l := range []struct {
		field string
		in    []string
	}{{"to", m.To}, {"cc", m.Cc}, {"bcc", m.Bcc}} {
		for i, raw := range l.in {
			a, err := parseAddress(raw)
			if err != nil {
				bad(fmt.Sprintf("%s[%d]", l.field, i), "is not a valid e-mail address")
				continue
			}
			lists[l.field] = append(lists[l.field], a)
			recipients = append(recipients, a.Address)
		}
	}
	if len(m.To)+len(m.Cc)+len(m.Bcc) == 0 {
		bad("to", "at least one recipient is required")
	}
	if m.Text == "" && m.HTML == "" {
		bad("text", "a text or HTML body is required")
	}
	if !utf8.ValidString(m.Subject) || !utf8.ValidString(m.Text) || !utf8.ValidString(m.HTML) {
		bad("subject", "subject and bodies must be UTF-8 text")
	}
	for i, a := range m.Attachments {
		if strings.TrimSpace(a.Filename) == "" {
			bad(fmt.Sprintf("attachments[%d].filename", i), "is required")
		}
		if a.ContentType != "" {
			if _, _, err := mime.ParseMediaType(a.ContentType); err != nil {
				bad(fmt.Sprintf("attachments[%d].content_type", i), "is not a media type")
			}
		}
	}
	if len(problems) > 0 {
		return envelope{}, fault.Fields("the e-mail is not valid", problems...)
	}
	return envelope{from: from, replyTo: replyTo, lists: lists, recipients: recipients}, nil
}

// compose validates m and renders it as MIME. Every header value is built from parsed addresses or encoded text,
// so no input can add a header line: CR and LF never reach the header section raw.
func compose(m Message, defaultFrom *mail.Address, now time.Time) (composed, error) {
	env, err := checkMessage(m, defaultFrom)
	if err != nil {
		return composed{}, err
	}
	from, replyTo, lists := env.from, env.replyTo, env.lists
	msgID := newMessageID(from.Address, m.IdempotencyKey)
	var buf bytes.Buffer
	h := func(name, value string) { fmt.Fprintf(&buf, "%s: %s\r\n", name, value) }
	h("From", from.String())
	if len(lists["to"]) > 0 {
		h("To", joinAddresses(lists["to"]))
	}
	if len(lists["cc"]) > 0 {
		h("Cc", joinAddresses(lists["cc"]))
	}
	if replyTo != nil {
		h("Reply-To", replyTo.String())
	}
	h("Subject", encodeSubject(m.Subject))
	h("Date", now.Format(time.RFC1123Z))
	h("Message-ID", msgID)
	h("MIME-Version", "1.0")

	switch {
	case len(m.Attachments) > 0:
		mixed := multipart.NewWriter(&buf)
		h("Content-Type", mime.FormatMediaType("multipart/mixed", map[string]string{"boundary": mixed.Boundary()}))
		buf.WriteString("\r\n")
		if err := writeBody(mixed, m); err != nil {
			return composed{}, err
		}
		for _, a := range m.Attachments {
			if err := writeAttachment(mixed, a); err != nil {
				return composed{}, err
			}
		}
		if err := mixed.Close(); err != nil {
			return composed{}, err
		}
	case m.Text != "" && m.HTML != "":
		alt := multipart.NewWriter(&buf)
		h("Content-Type", mime.FormatMediaType("multipart/alternative", map[string]string{"boundary": alt.Boundary()}))
		buf.WriteString("\r\n")
		if err := writeAlternatives(alt, m); err != nil {
			return composed{}, err
		}
	default:
		body, ctype := m.Text, "text/plain"
		if body == "" {
			body, ctype = m.HTML, "text/html"
		}
		h("Content-Type", ctype+"; charset=utf-8")
		h("Content-Transfer-Encoding", "quoted-printable")
		buf.WriteString("\r\n")
		if err := writeQP(&buf, body); err != nil {
			return composed{}, err
		}
	}
	return composed{from: from.Address, recipients: env.recipients, messageID: msgID, data: buf.Bytes()}, nil
}

// writeBody writes the text/HTML body as the first part of a multipart/mixed message.
func writeBody(mixed *multipart.Writer, m Message) error {
	if m.Text != "" && m.HTML != "" {
		var inner bytes.Buffer
		alt := multipart.NewWriter(&inner)
		if err := writeAlternatives(alt, m); err != nil {
			return err
		}
		w, err := mixed.CreatePart(textproto.MIMEHeader{"Content-Type": {
			mime.FormatMediaType("multipart/alternative", map[string]string{"boundary": alt.Boundary()})}})
		if err != nil {
			return err
		}
		_, err = w.Write(inner.Bytes())
		return err
	}
	body, ctype := m.Text, "text/plain"
	if body == "" {
		body, ctype = m.HTML, "text/html"
	}
	return writeTextPart(mixed, ctype, body)
}

func writeAlternatives(alt *multipart.Writer, m Message) error {
	if err := writeTextPart(alt, "text/plain", m.Text); err != nil {
		return err
	}
	if err := writeTextPart(alt, "text/html", m.HTML); err != nil {
		return err
	}
	return alt.Close()
}

func writeTextPart(mw *multipart.Writer, ctype, body string) error {
	w, err := mw.CreatePart(textproto.MIMEHeader{
		"Content-Type":              {ctype + "; charset=utf-8"},
		"Content-Transfer-Encoding": {"quoted-printable"},
	})
	if err != nil {
		return err
	}
	return writeQP(w, body)
}

func writeQP(w interface{ Write([]byte) (int, error) }, body string) error {
	qp := quotedprintable.NewWriter(w)
	if _, err := qp.Write([]byte(body)); err != nil {
		return err
	}
	return qp.Close()
}

func writeAttachment(mw *multipart.Writer, a Attachment) error {
	ctype := a.ContentType
	if ctype == "" {
		ctype = "application/octet-stream"
	}
	// FormatMediaType quotes and RFC 2231-encodes the file name, so it cannot break out of its header.
	name := strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return -1
		}
		return r
	}, a.Filename)
	w, err := mw.CreatePart(textproto.MIMEHeader{
		"Content-Type":              {ctype},
		"Content-Disposition":       {mime.FormatMediaType("attachment", map[string]string{"filename": name})},
		"Content-Transfer-Encoding": {"base64"},
	})
	if err != nil {
		return err
	}
	enc := base64.StdEncoding.EncodeToString(a.Data)
	for len(enc) > 76 {
		if _, err := w.Write([]byte(enc[:76] + "\r\n")); err != nil {
			return err
		}
		enc = enc[76:]
	}
	_, err = w.Write([]byte(enc + "\r\n"))
	return err
}

// parseAddress accepts one RFC 5322 address and nothing that could smuggle a header line.
func parseAddress(raw string) (*mail.Address, error) {
	if strings.ContainsAny(raw, "\r\n") {
		return nil, fmt.Errorf("address contains a line break")
	}
	a, err := mail.ParseAddress(strings.TrimSpace(raw))
	if err != nil {
		return nil, err
	}
	return a, nil
}

func joinAddresses(list []*mail.Address) string {
	parts := make([]string, len(list))
	for i, a := range list {
		parts[i] = a.String()
	}
	return strings.Join(parts, ",\r\n ")
}

// encodeSubject makes a subject safe for its header: line breaks become spaces, and non-ASCII text becomes RFC 2047
// encoded words, folded onto continuation lines.
func encodeSubject(s string) string {
	s = strings.Join(strings.Fields(strings.Map(func(r rune) rune {
		if r == '\r' || r == '\n' || r == '\t' {
			return ' '
		}
		if r < 0x20 || r == 0x7f {
			return -1
		}
		return r
	}, s)), " ")
	if len(s) > maxSubjectBytes {
		cut := maxSubjectBytes
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut]
	}
	enc := mime.QEncoding.Encode("utf-8", s)
	if enc == s {
		return s
	}
	return strings.ReplaceAll(enc, "?= =?", "?=\r\n =?")
}

// newMessageID returns a Message-ID in the sender's domain: random, or derived from key when one is given. The key
// is hashed, so that whatever it holds, the header is 32 hexadecimal digits, an at sign and a parsed domain.
func newMessageID(from, key string) string {
	domain := "concertmaster.invalid"
	if i := strings.LastIndexByte(from, '@'); i >= 0 && i < len(from)-1 {
		domain = from[i+1:]
	}
	var b [16]byte
	if key != "" {
		sum := sha256.Sum256([]byte("message-id\x00" + key))
		copy(b[:], sum[:])
	} else {
		_, _ = rand.Read(b[:])
	}
	return "<" + hex.EncodeToString(b[:]) + "@" + domain + ">"
}
