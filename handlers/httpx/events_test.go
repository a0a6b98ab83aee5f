package httpx

import (
	"strings"
	"testing"
)

func TestWriteSSEKeepsLineBreaksInsideData(t *testing.T) {
	var b strings.Builder
	if err := WriteSSE(&b, "timeline", "<p>a\r\nevent: forged\rb\n</p>"); err != nil {
		t.Fatal(err)
	}
	want := "event: timeline\ndata: <p>a\ndata: event: forged\ndata: b\ndata: </p>\n\n"
	if b.String() != want {
		t.Errorf("got %q, want %q", b.String(), want)
	}
}
