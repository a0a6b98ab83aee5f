package api

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/url"
	"testing"

	"github.com/concertmaster/concertmaster/app"
	"github.com/concertmaster/concertmaster/handlers/httpx"
	"github.com/concertmaster/concertmaster/handlers/httpx/httpxtest"
	"github.com/concertmaster/concertmaster/platform/fault"
	"github.com/concertmaster/concertmaster/platform/validate"
	"github.com/concertmaster/concertmaster/sql/store"
	"github.com/concertmaster/concertmaster/views"
)

// These fuzz targets run their seeds (below and under testdata/fuzz/<Name>) as ordinary tests; `go test -fuzz
// '^FuzzName$' ./handlers` explores further. None needs a database: each calls the code a request goes through
// after its target is resolved, so it runs thousands of inputs a second.

// FuzzFormSchema checks form schemas as the API and builder do, then fills the accepted ones in. Properties: a
// refusal is an Invalid fault naming fields; an accepted schema is stable (checking it again changes nothing) and
// renders; a submission of text values is answered with data that can be stored or with messages, never a panic.
func FuzzFormSchema(f *testing.F) {
	f.Add([]byte(`{"name":"Feedback","slug":"feedback","published":true,"fields":[
		{"name":"name","label":"Your name","type":"text","required":true,"min_length":2},
		{"name":"age","label":"Age","type":"number","min":18,"max":120},
		{"name":"topic","label":"Topic","type":"select","options":["Praise","Complaint"]},
		{"name":"when","label":"When","type":"date","min":"2020-01-01"},
		{"name":"code","label":"Code","type":"text","pattern":"[A-Z]{3}-[0-9]+"}]}`), "name=Ada&age=36&topic=Praise&when=2024-02-30&code=ABC-1")
	f.Add([]byte(`{"name":"x\u0000","slug":"a","fields":[{"name":"a","label":"\ud800","type":"checkbox","options":["","x"]}]}`), "a=x&a=y")
	f.Add([]byte(`{"name":"n","slug":"n","fields":[{"name":"f","label":"F","type":"file","accept":["image/*"],"max_bytes":1}],"settings":{"redirect_url":"javascript:alert(1)"}}`), "f=1")
	f.Add([]byte(`{"name":"n","slug":"n","fields":[{"name":"n","label":"N","type":"number","min":1e308,"max":-1e308}]}`), "n=1e309")
	f.Fuzz(func(t *testing.T, schema []byte, submission string) {
		var body formInputJSON
		if json.Unmarshal(schema, &body) != nil {
			return
		}
		in := body.merge(store.FormInput{})
		err := app.CheckForm(&in)
		if err != nil {
			if e := fault.As(err); e.Code != fault.Invalid || len(e.Fields) == 0 {
				t.Fatalf("refusal %#v", e)
			}
			return
		}
		before, _ := json.Marshal(in)
		if err := app.CheckForm(&in); err != nil {
			t.Fatalf("an accepted schema is refused when checked again: %v\n%s", err, before)
		}
		if after, _ := json.Marshal(in); !bytes.Equal(before, after) {
			t.Fatalf("checking changed an accepted schema:\n%s\n%s", before, after)
		}
		form := store.Form{Name: in.Name, Slug: in.Slug, Fields: in.Fields, Settings: in.Settings, Published: true}
		values, err := url.ParseQuery(submission)
		if err != nil || validate.Values("", values) != nil {
			return // refused before validation, as readSubmission does
		}
		data, errs := app.CheckAnswers(form.Fields, values, nil, nil)
		if len(errs) == 0 {
			raw, err := json.Marshal(data)
			if err != nil {
				t.Fatalf("accepted data does not encode: %v", err)
			}
			httpxtest.Storable(t, "submission", raw, validate.MaxDocumentDepth)
		}
		if err := views.PublicFormBody(httpx.PublicFormView(form, values, errs)).Render(context.Background(), io.Discard); err != nil {
			t.Fatalf("the form does not render: %v", err)
		}
	})
}
