package actions

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"io"
	"mime"
	"net/mail"
	"path"
	"strings"
	"time"

	"github.com/concertmaster/concertmaster/engine"
	"github.com/concertmaster/concertmaster/engine/nodes"
)

// MaxAttachmentBytes bounds the attachments of one message together: mail servers refuse much larger messages,
// and each attachment is held in memory so a retry can send the same bytes.
const MaxAttachmentBytes = 10 << 20

// EmailDefaultRetry is how an action.email node without a retry policy of its own retries an SMTP server that
// cannot be reached or answers 4xx (busy, greylisting, shutting down): four attempts, waiting up to 2, 4 and 8 s
// between them (fully jittered), before the node fails with the server's last answer. A 5xx answer fails it at once.
var EmailDefaultRetry = engine.RetryPolicy{MaxAttempts: 4, Backoff: engine.BackoffExponential,
	InitialInterval: engine.Duration(2 * time.Second), MaxInterval: engine.Duration(30 * time.Second)}

// EmailConfig is the config of action.email.
type EmailConfig struct {
	IntegrationID string `json:"integration_id"`
	// From overrides the integration's sender; a template.
	From string `json:"from,omitempty"`
	// To, Cc and Bcc are templates, each a string (one or more comma-separated addresses) or an array of them.
	To  addressTemplates `json:"to,omitempty"`
	Cc  addressTemplates `json:"cc,omitempty"`
	Bcc addressTemplates `json:"bcc,omitempty"`
	// Subject and Text are templates; HTML is a template whose values are HTML-escaped.
	Subject     string                  `json:"subject"`
	Text        string                  `json:"text,omitempty"`
	HTML        string                  `json:"html,omitempty"`
	Attachments []EmailAttachmentConfig `json:"attachments,omitempty"`
	// ResendIfUnknown opts into at-least-once: a message an earlier pass may or may not have sent (it stopped
	// between the server's answer and its record) is sent again with the same Message-ID instead of failing the
	// node with ErrEmailDeliveryUnknown.
	ResendIfUnknown bool `json:"resend_if_unknown,omitempty"`
}

// EmailAttachmentConfig is one attachment: a file a node produced (FromNode alone: its output holds a storage
// reference, as action.file_export's does), a node's output rendered as CSV or JSON (FromNode with Format), or
// Content, a template, rendered as Format (or attached as text).
type EmailAttachmentConfig struct {
	FromNode string `json:"from_node,omitempty"`
	Content  string `json:"content,omitempty"`
	Format   string `json:"format,omitempty"`
	Filename string `json:"filename,omitempty"`
}

// addressTemplates accepts one string or an array of strings.
type addressTemplates []string

// UnmarshalJSON reads a string or an array of strings.
func (a *addressTemplates) UnmarshalJSON(b []byte) error {
	var one string
	if err := json.Unmarshal(b, &one); err == nil {
		*a = addressTemplates{one}
		return nil
	}
	var many []string
	if err := json.Unmarshal(b, &many); err != nil {
		return errors.New("want an address or an array of addresses")
	}
	*a = many
	return nil
}

const emailSchema = `{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "type": "object",
  "$defs": {
    "addresses": {"oneOf": [
      {"type": "string", "maxLength": 65536, "x-expression": "template"},
      {"type": "array", "maxItems": 100, "items": {"type": "string", "minLength": 1, "maxLength": 65536, "x-expression": "template"}}
    ]}
  },
  "properties": {
    "integration_id": {"title": "SMTP integration", "type": "string", "format": "uuid",
      "description": "The SMTP server to send through (an integration of kind smtp)."},
    "from": {"title": "From", "type": "string", "maxLength": 1000, "x-expression": "template",
      "description": "Overrides the integration's sender, e.g. \"Sales <sales@example.com>\"."},
    "to": {"title": "To", "$ref": "#/$defs/addresses",
      "description": "Addresses, comma-separated, or {{ an expression }} giving one or an array."},
    "cc": {"title": "Cc", "$ref": "#/$defs/addresses"},
    "bcc": {"title": "Bcc", "$ref": "#/$defs/addresses"},
    "subject": {"title": "Subject", "type": "string", "maxLength": 2000, "x-expression": "template"},
    "text": {"title": "Text body", "type": "string", "maxLength": 65536, "x-expression": "template"},
    "html": {"title": "HTML body", "type": "string", "maxLength": 65536, "x-expression": "template",
      "description": "Values of {{ expressions }} are HTML-escaped; the template's own markup is kept."},
    "resend_if_unknown": {"title": "Resend if the outcome is unknown", "type": "boolean", "default": false,
      "description": "When a crash left it unknown whether the message went, send it again (same Message-ID) instead of failing the node."},
    "attachments": {"title": "Attachments", "type": "array", "maxItems": 20, "items": {
      "type": "object",
      "properties": {
        "from_node": {"title": "From node", "type": "string", "pattern": "^[A-Za-z0-9_-]{1,64}$",
          "description": "A node whose output is a file (action.file_export), or whose output to render as format."},
        "content": {"title": "Content", "type": "string", "maxLength": 65536, "x-expression": "template",
          "description": "A {{ template }} whose value is attached, rendered as format."},
        "format": {"title": "Format", "enum": ["csv", "json"]},
        "filename": {"title": "File name", "type": "string", "maxLength": 500, "x-expression": "template"}
      },
      "additionalProperties": false,
      "oneOf": [{"required": ["from_node"]}, {"required": ["content"]}]
    }}
  },
  "required": ["integration_id", "subject"],
  "anyOf": [{"required": ["to"]}, {"required": ["cc"]}, {"required": ["bcc"]}],
  "additionalProperties": false
}`

// EmailAction sends an e-mail through an SMTP integration and records its delivery.
func EmailAction() engine.NodeType {
	return engine.NodeType{
		Name:         "action.email",
		Category:     engine.CategoryAction,
		Title:        "Send e-mail",
		Description:  "Sends an e-mail through an SMTP integration, with text and HTML bodies from templates and optional attachments. Outputs the delivery's message id and server reply.",
		ConfigSchema: json.RawMessage(emailSchema),
		SideEffects:  true,
		DefaultRetry: &EmailDefaultRetry,
		Example: json.RawMessage(`{"integration_id": "0190a5b4-7c1e-7b9a-8f3e-2d1c0b9a8f7e",
  "to": "{{ trigger.body.email }}", "subject": "Order {{ input.id }} received",
  "text": "Hello {{ input.customer.name }}, thank you for your order.",
  "html": "<p>Hello {{ input.customer.name }}, thank you for your order.</p>",
  "attachments": [{"content": "{{ input.items }}", "format": "csv", "filename": "items.csv"}]}`),
		Compile: compileEmail,
	}
}

type compiledAttachment struct {
	fromNode string
	content  *engine.Template
	format   string
	filename *engine.Template
}

type emailNode struct {
	integrationID   string
	resendIfUnknown bool
	from            *engine.Template
	to, cc, bcc     []*engine.Template
	subject, text   *engine.Template
	html            *engine.Template
	attachments     []compiledAttachment
}

func compileEmail(cfg json.RawMessage, c *engine.Compiler) (engine.Runnable, error) {
	conf, err := decodeConfig[EmailConfig](cfg)
	if err != nil {
		return nil, err
	}
	if conf.Text == "" && conf.HTML == "" {
		return nil, engine.ConfigError("text", "set a text or an HTML body (or both)")
	}
	n := &emailNode{integrationID: conf.IntegrationID, resendIfUnknown: conf.ResendIfUnknown}
	compile := func(field, src string) *engine.Template {
		if src == "" && err == nil {
			return nil
		}
		t, e := c.Template(field, src)
		if e != nil && err == nil {
			err = e
		}
		return t
	}
	list := func(field string, srcs addressTemplates) []*engine.Template {
		var out []*engine.Template
		for i, s := range srcs {
			if t := compile(fmt.Sprintf("%s[%d]", field, i), s); t != nil {
				out = append(out, t)
			}
		}
		return out
	}
	n.from = compile("from", conf.From)
	n.to, n.cc, n.bcc = list("to", conf.To), list("cc", conf.Cc), list("bcc", conf.Bcc)
	n.subject = compile("subject", conf.Subject)
	n.text = compile("text", conf.Text)
	n.html = compile("html", conf.HTML)
	for i, a := range conf.Attachments {
		ca := compiledAttachment{fromNode: a.FromNode, format: a.Format}
		ca.content = compile(fmt.Sprintf("attachments[%d].content", i), a.Content)
		ca.filename = compile(fmt.Sprintf("attachments[%d].filename", i), a.Filename)
		if a.Content != "" && a.Filename == "" {
			return nil, engine.ConfigError(fmt.Sprintf("attachments[%d].filename", i), "is required for content")
		}
		n.attachments = append(n.attachments, ca)
	}
	if err != nil {
		return nil, err
	}
	if n.subject == nil {
		n.subject, _ = c.Template("subject", "")
	}
	return n, nil
}

// Run renders the message, sends it and outputs the receipt.
func (n *emailNode) Run(ctx context.Context, in engine.Input) (engine.Output, error) {
	svc := in.Services
	if svc == nil || svc.Mailer == nil {
		return engine.Output{}, engine.Permanent(errors.New("sending e-mail is not available to this execution"))
	}
	vars := in.Vars()
	m := engine.Mail{IntegrationID: n.integrationID}
	var err error
	if n.from != nil {
		if m.From, err = n.from.Render(ctx, vars); err != nil {
			return engine.Output{}, err
		}
	}
	if m.To, err = renderAddresses(ctx, vars, n.to); err != nil {
		return engine.Output{}, err
	}
	if m.Cc, err = renderAddresses(ctx, vars, n.cc); err != nil {
		return engine.Output{}, err
	}
	if m.Bcc, err = renderAddresses(ctx, vars, n.bcc); err != nil {
		return engine.Output{}, err
	}
	if len(m.To)+len(m.Cc)+len(m.Bcc) == 0 {
		return engine.Output{}, engine.Permanent(errors.New("no recipient: to, cc and bcc rendered empty"))
	}
	if m.Subject, err = n.subject.Render(ctx, vars); err != nil {
		return engine.Output{}, err
	}
	if n.text != nil {
		if m.Text, err = n.text.Render(ctx, vars); err != nil {
			return engine.Output{}, err
		}
	}
	if n.html != nil {
		escape := func(v any) (string, error) { return html.EscapeString(engine.FormatValue(v)), nil }
		if m.HTML, err = n.html.RenderFunc(ctx, vars, escape); err != nil {
			return engine.Output{}, err
		}
	}
	total := 0
	for i, a := range n.attachments {
		att, err := n.attachment(ctx, in, vars, a)
		if err != nil {
			return engine.Output{}, fmt.Errorf("attachment %d: %w", i+1, err)
		}
		total += len(att.Data)
		if total > MaxAttachmentBytes {
			return engine.Output{}, engine.Permanent(fmt.Errorf("attachments are larger than %d MB together", MaxAttachmentBytes>>20))
		}
		m.Attachments = append(m.Attachments, att)
	}

	m.NodeID, m.IdempotencyKey, m.ResendIfUnknown = in.NodeID, in.IdempotencyKey(), n.resendIfUnknown
	receipt, err := svc.Mailer.Send(ctx, m)
	if err != nil {
		return engine.Output{}, err
	}
	names := make([]any, len(m.Attachments))
	for i, a := range m.Attachments {
		names[i] = a.Filename
	}
	out := map[string]any{
		"message_id": receipt.MessageID, "smtp_reply": receipt.SMTPReply,
		"to": stringsToAny(m.To), "cc": stringsToAny(m.Cc), "bcc": stringsToAny(m.Bcc),
		"subject": m.Subject, "attachments": names,
	}
	if receipt.DeliveryID != "" {
		out["delivery_id"] = receipt.DeliveryID
	}
	return engine.Output{Data: out}, nil
}

// renderAddresses renders recipient templates: a value that is an array gives one recipient per element, a
// string may hold several comma-separated addresses. Addresses that do not parse are passed on as written, for
// the sender to refuse with a message naming them.
func renderAddresses(ctx context.Context, vars *engine.Vars, tmpls []*engine.Template) ([]string, error) {
	var out []string
	add := func(s string) {
		s = strings.TrimSpace(s)
		if s == "" {
			return
		}
		if list, err := mail.ParseAddressList(s); err == nil {
			for _, a := range list {
				out = append(out, a.String())
			}
			return
		}
		out = append(out, s)
	}
	for _, t := range tmpls {
		v, err := t.Value(ctx, vars)
		if err != nil {
			return nil, err
		}
		if arr, ok := v.([]any); ok {
			for _, e := range arr {
				add(engine.FormatValue(e))
			}
			continue
		}
		add(engine.FormatValue(v))
	}
	return out, nil
}

// attachment builds one attachment.
func (n *emailNode) attachment(ctx context.Context, in engine.Input, vars *engine.Vars, a compiledAttachment) (engine.Attachment, error) {
	var name string
	if a.filename != nil {
		s, err := a.filename.Render(ctx, vars)
		if err != nil {
			return engine.Attachment{}, err
		}
		name = s
	}
	var value any
	if a.fromNode != "" {
		out, ok := in.Env.Output(a.fromNode)
		if !ok {
			return engine.Attachment{}, engine.Permanent(fmt.Errorf("node %q has no output here (not run before this node, or skipped)", a.fromNode))
		}
		if a.format == "" {
			return attachFile(ctx, in.Services, a.fromNode, out, name)
		}
		value = out
	} else {
		v, err := a.content.Value(ctx, vars)
		if err != nil {
			return engine.Attachment{}, err
		}
		value = v
	}
	switch a.format {
	case FormatCSV, FormatJSON:
		var buf bytes.Buffer
		items := value
		if a.format == FormatCSV {
			items = asItems(value)
		}
		var err error
		if a.format == FormatCSV {
			err = nodes.WriteCSV(&buf, items.([]any), nil)
		} else {
			enc := json.NewEncoder(&buf)
			enc.SetEscapeHTML(false)
			enc.SetIndent("", "  ")
			err = enc.Encode(items)
		}
		if err != nil {
			return engine.Attachment{}, err
		}
		return engine.Attachment{Filename: safeFilename(name, "attachment."+a.format), ContentType: contentTypes[a.format],
			Data: buf.Bytes()}, nil
	}
	text, ok := value.(string)
	if !ok {
		b, _ := json.Marshal(value)
		text = string(b)
	}
	ctype := mime.TypeByExtension(path.Ext(name))
	if ctype == "" {
		ctype = "text/plain; charset=utf-8"
	}
	return engine.Attachment{Filename: safeFilename(name, "attachment.txt"), ContentType: ctype, Data: []byte(text)}, nil
}

// attachFile attaches a stored file named by a node's output ({ref, filename, content_type}), read from the
// organization's own files only.
func attachFile(ctx context.Context, svc *engine.Services, nodeID string, out any, name string) (engine.Attachment, error) {
	obj, _ := out.(map[string]any)
	ref, _ := obj["ref"].(string)
	if downloaded, ok := obj["file"].(map[string]any); ok && ref == "" {
		ref, _ = downloaded["ref"].(string) // an HTTP download keeps its file under "file"
	}
	if ref == "" {
		return engine.Attachment{}, engine.Permanent(fmt.Errorf("the output of node %q is not a file (no ref); set a format to attach it as CSV or JSON", nodeID))
	}
	if svc == nil || svc.Storage == nil {
		return engine.Attachment{}, engine.Permanent(errors.New("files are not available to this execution"))
	}
	file, rc, err := svc.Storage.Open(ctx, ref)
	if err != nil {
		return engine.Attachment{}, engine.Permanent(fmt.Errorf("the file of node %q: %w", nodeID, err))
	}
	defer rc.Close()
	data, err := io.ReadAll(io.LimitReader(rc, MaxAttachmentBytes+1))
	if err != nil {
		return engine.Attachment{}, fmt.Errorf("read the file of node %q: %w", nodeID, err)
	}
	if len(data) > MaxAttachmentBytes {
		return engine.Attachment{}, engine.Permanent(fmt.Errorf("the file of node %q is larger than %d MB", nodeID, MaxAttachmentBytes>>20))
	}
	if name == "" {
		name = file.Filename
	}
	return engine.Attachment{Filename: safeFilename(name, "attachment"), ContentType: file.ContentType, Data: data}, nil
}

func stringsToAny(s []string) []any {
	out := make([]any, len(s))
	for i, v := range s {
		out[i] = v
	}
	return out
}
