package server_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/heraldpush/herald/server"
)

// TestStreamVersionsAndProbeHeader sends raw HTTP/1.0 and HTTP/1.1 stream requests: an
// HTTP/1.0 response must not be chunked (HTTP/1.0 has no chunked coding: the body ends
// when the connection closes), and a request with Herald-Probe gets Herald-Request-Proto
// naming the version Herald received (herald probe reports it as the proxy's version).
func TestStreamVersionsAndProbeHeader(t *testing.T) {
	g := newGateway(t, server.Config{})
	tests := []struct {
		name        string
		proto       string
		probe       bool
		wantChunked bool
		wantProto   string
	}{
		{"HTTP/1.1", "HTTP/1.1", false, true, ""},
		{"HTTP/1.1 probe", "HTTP/1.1", true, true, "HTTP/1.1"},
		{"HTTP/1.0 probe", "HTTP/1.0", true, false, "HTTP/1.0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			conn, err := net.Dial("tcp", strings.TrimPrefix(g.url, "http://"))
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			conn.SetDeadline(time.Now().Add(waitFor))
			req := fmt.Sprintf("GET /v1/events?topic=v:1 %s\r\nHost: x\r\n", tt.proto)
			if tt.probe {
				req += "Herald-Probe: 1\r\n"
			}
			fmt.Fprint(conn, req+"\r\n")
			br := bufio.NewReader(conn)
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatalf("read response: %v", err)
			}
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d", resp.StatusCode)
			}
			chunked := len(resp.TransferEncoding) > 0 && resp.TransferEncoding[0] == "chunked"
			if chunked != tt.wantChunked {
				t.Errorf("chunked %v (Transfer-Encoding %v), want %v", chunked, resp.TransferEncoding, tt.wantChunked)
			}
			if got := resp.Header.Get("Herald-Request-Proto"); got != tt.wantProto {
				t.Errorf("Herald-Request-Proto %q, want %q", got, tt.wantProto)
			}
			// The body starts with Herald's first comment, unframed by chunk sizes.
			first := make([]byte, 4)
			if _, err := io.ReadFull(resp.Body, first); err != nil || string(first) != ":ok\n" {
				t.Errorf("body starts %q (%v), want \":ok\\n\"", first, err)
			}
		})
	}
}
