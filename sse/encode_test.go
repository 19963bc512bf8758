package sse

import (
	"testing"
	"time"
)

func TestAppendEvent(t *testing.T) {
	tests := []struct {
		name, event string
		data        string
		want        string
	}{
		{"plain", "", "hello", "data: hello\n\n"},
		{"named", "progress", `{"pct":40}`, "event: progress\ndata: {\"pct\":40}\n\n"},
		{"empty data", "", "", "data: \n\n"},
		{"LF", "", "a\nb", "data: a\ndata: b\n\n"},
		{"CRLF", "", "a\r\nb", "data: a\ndata: b\n\n"},
		{"CR", "", "a\rb", "data: a\ndata: b\n\n"},
		{"LF CR is two breaks", "", "a\n\rb", "data: a\ndata: \ndata: b\n\n"},
		{"trailing LF", "", "a\n", "data: a\ndata: \n\n"},
		{"trailing CR", "", "a\r", "data: a\ndata: \n\n"},
		{"only breaks", "", "\r\n\n\r", "data: \ndata: \ndata: \ndata: \n\n"},
		{"injection attempt", "", "x\n\nid: 9\nevent: evil\ndata: y", "data: x\ndata: \ndata: id: 9\ndata: event: evil\ndata: data: y\n\n"},
		{"leading space kept", " e", " d", "event:  e\ndata:  d\n\n"},
		{"colon data", "", ":not a comment", "data: :not a comment\n\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := string(AppendEvent(nil, tt.event, []byte(tt.data)))
			if got != tt.want {
				t.Errorf("AppendEvent(%q, %q) = %q, want %q", tt.event, tt.data, got, tt.want)
			}
			if n := EncodedLen(tt.event, []byte(tt.data)); n < len(got) {
				t.Errorf("EncodedLen = %d, shorter than the %d bytes written", n, len(got))
			}
		})
	}
}

func TestAppendEventAppends(t *testing.T) {
	b := AppendID([]byte("x"), []byte("e-1"))
	b = AppendEvent(b, "n", []byte("d"))
	if want := "xid: e-1\nevent: n\ndata: d\n\n"; string(b) != want {
		t.Fatalf("got %q, want %q", b, want)
	}
}

func TestAppendComment(t *testing.T) {
	tests := []struct{ text, want string }{
		{"", ":\n\n"},
		{"hi", ": hi\n\n"},
		{"a\nb\rc\x00d", ": a b c d\n\n"},
	}
	for _, tt := range tests {
		if got := string(AppendComment(nil, tt.text)); got != tt.want {
			t.Errorf("AppendComment(%q) = %q, want %q", tt.text, got, tt.want)
		}
	}
}

func TestAppendRetry(t *testing.T) {
	tests := []struct {
		d    time.Duration
		want string
	}{
		{2 * time.Second, "retry: 2000\n\n"},
		{1500 * time.Microsecond, "retry: 1\n\n"},
		{0, "retry: 0\n\n"},
	}
	for _, tt := range tests {
		if got := string(AppendRetry(nil, tt.d)); got != tt.want {
			t.Errorf("AppendRetry(%v) = %q, want %q", tt.d, got, tt.want)
		}
	}
}

func BenchmarkAppendEvent(b *testing.B) {
	data := []byte(`{"step":"vision","pct":40,"detail":"scanning the image for labels"}`)
	buf := make([]byte, 0, 256)
	b.ReportAllocs()
	for b.Loop() {
		buf = AppendID(buf[:0], []byte("k2x9q7ab-42"))
		buf = AppendEvent(buf, "progress", data)
	}
}
