package h1conn

import (
	"bufio"
	"bytes"
	"maps"
	"net/http"
	"slices"
	"strings"
	"testing"
)

const testPath = "/v1/publish"

func TestParseHead(t *testing.T) {
	const ok = "POST /v1/publish HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n"
	tests := []struct {
		name string
		head string // without the blank line
		want bool
	}{
		{"plain", ok, true},
		{"query", "POST /v1/publish?a=b HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n", true},
		{"empty query", "POST /v1/publish? HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n", true},
		{"lower-case names", "POST /v1/publish HTTP/1.1\r\nhost: h\r\ncontent-length: 3\r\nx-herald-sent-time: 1\r\n", true},
		{"white space around values", "POST /v1/publish HTTP/1.1\r\nHost:  h \t\r\nContent-Length:3 \r\n", true},
		{"repeated header", ok + "Accept: a\r\nAccept: b\r\n", true},
		{"empty value", ok + "X-Empty:\r\n", true},
		{"connection close", ok + "Connection: close\r\n", true},
		{"zero length", "POST /v1/publish HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n", true},

		{"HTTP/1.0", "POST /v1/publish HTTP/1.0\r\nHost: h\r\nContent-Length: 3\r\n", false},
		{"HTTP/2.0", "POST /v1/publish HTTP/2.0\r\nHost: h\r\nContent-Length: 3\r\n", false},
		{"GET", "GET /v1/publish HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n", false},
		{"lower-case method", "post /v1/publish HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n", false},
		{"other path", "POST /v1/publishx HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n", false},
		{"sub-path", "POST /v1/publish/x HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n", false},
		{"absolute form", "POST http://h/v1/publish HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n", false},
		{"two spaces", "POST /v1/publish  HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n", false},
		{"space in query", "POST /v1/publish?a HTTP/1.1 HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n", false},
		{"fragment", "POST /v1/publish?a#b HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n", false},
		{"no host", "POST /v1/publish HTTP/1.1\r\nContent-Length: 3\r\n", false},
		{"two hosts", ok + "Host: g\r\n", false},
		{"bad host", "POST /v1/publish HTTP/1.1\r\nHost: a b\r\nContent-Length: 3\r\n", false},
		{"no length", "POST /v1/publish HTTP/1.1\r\nHost: h\r\n", false},
		{"two lengths", ok + "Content-Length: 3\r\n", false},
		{"signed length", "POST /v1/publish HTTP/1.1\r\nHost: h\r\nContent-Length: +3\r\n", false},
		{"length over the limit", "POST /v1/publish HTTP/1.1\r\nHost: h\r\nContent-Length: 1025\r\n", false},
		{"chunked", ok + "Transfer-Encoding: chunked\r\n", false},
		{"expect", ok + "Expect: 100-continue\r\n", false},
		{"upgrade", ok + "Upgrade: websocket\r\nConnection: Upgrade\r\n", false},
		{"pragma", ok + "Pragma: no-cache\r\n", false},
		{"trailer", ok + "Trailer: X\r\n", false},
		{"folded line", ok + "X-A: a\r\n b\r\n", false},
		{"space before colon", ok + "X-A : a\r\n", false},
		{"no colon", ok + "X-A\r\n", false},
		{"control byte in value", ok + "X-A: a\x01b\r\n", false},
		{"bare CR in value", ok + "X-A: a\rb\r\n", false},
		{"bare LF", "POST /v1/publish HTTP/1.1\nHost: h\nContent-Length: 3\n", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := []byte(tt.head + "\r\nabc")
			h, got := parseHead(b, testPath, 1024)
			if got != tt.want {
				t.Fatalf("parseHead = %v, want %v", got, tt.want)
			}
			if got {
				if h.headLen != len(tt.head)+2 {
					t.Errorf("headLen = %d, want %d", h.headLen, len(tt.head)+2)
				}
				checkLikeNetHTTP(t, b, h)
			}
		})
	}
}

// checkLikeNetHTTP checks that net/http reads the head in b as h says.
func checkLikeNetHTTP(t *testing.T, b []byte, h head) {
	t.Helper()
	req, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(b)))
	if err != nil {
		t.Fatalf("parseHead took a head net/http refuses: %v\n%q", err, b)
	}
	want := req.Header.Clone()
	delete(want, "Host") // the server moves it to Request.Host
	switch {
	case req.Method != http.MethodPost || req.ProtoMajor != 1 || req.ProtoMinor != 1:
		t.Errorf("net/http: %s %s", req.Method, req.Proto)
	case req.RequestURI != h.uri || req.URL.Path != testPath || req.URL.RawQuery != h.query || req.URL.ForceQuery != h.force:
		t.Errorf("target: net/http %q (path %q query %q force %v), lane %q (query %q force %v)",
			req.RequestURI, req.URL.Path, req.URL.RawQuery, req.URL.ForceQuery, h.uri, h.query, h.force)
	case req.Host != h.host:
		t.Errorf("host: net/http %q, lane %q", req.Host, h.host)
	case req.ContentLength != h.clen:
		t.Errorf("length: net/http %d, lane %d", req.ContentLength, h.clen)
	case req.Close != h.close:
		t.Errorf("close: net/http %v, lane %v", req.Close, h.close)
	case !maps.EqualFunc(want, h.header, slices.Equal):
		t.Errorf("header: net/http %q, lane %q", want, h.header)
	}
}

func TestHeadEnd(t *testing.T) {
	tests := []struct {
		in   string
		want int
	}{
		{"", -1},
		{"POST / HTTP/1.1\r\n", -1},
		{"POST / HTTP/1.1\r\n\r", -1},
		{"POST / HTTP/1.1\r\n\r\n", 19},
		{"POST / HTTP/1.1\r\nA: b\r\n\r\nxyz", 25},
		{"POST / HTTP/1.1\nA: b\r\n\r\n", bareLF},
		{"POST / HTTP/1.1\r\n\n", bareLF},
		{"\n", bareLF},
	}
	for _, tt := range tests {
		if got := headEnd([]byte(tt.in)); got != tt.want {
			t.Errorf("headEnd(%q) = %d, want %d", tt.in, got, tt.want)
		}
	}
}

// FuzzParseHead checks that whatever head the lane takes, net/http takes too, and reads
// the same method, target, host, header, length and close flag from it.
func FuzzParseHead(f *testing.F) {
	for _, s := range []string{
		"POST /v1/publish HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc",
		"POST /v1/publish?x=1&y HTTP/1.1\r\nhost: h:80\r\ncontent-length: 03\r\nConnection: keep-alive, close\r\n\r\n",
		"POST /v1/publish HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nAuthorization: Bearer k\r\nX-A: \t v \r\n\r\n",
		"POST /v1/publish HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nX-A: a\r\n b\r\n\r\n",
		"POST /v1/publish HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n",
		"POST /v1/publish HTTP/1.1\nHost: h\n\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		h, ok := parseHead(b, testPath, 1<<20)
		if !ok {
			return
		}
		if h.headLen > len(b) {
			t.Fatalf("headLen %d over %d", h.headLen, len(b))
		}
		checkLikeNetHTTP(t, b, h)
		if strings.Contains(h.uri, " ") {
			t.Fatalf("target with a space: %q", h.uri)
		}
	})
}
