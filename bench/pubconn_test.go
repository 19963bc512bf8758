package bench

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
)

// TestPubConn talks to a real net/http server: answers with a length, chunked, with
// Connection: close and with an error status, all over as few connections as allowed.
func TestPubConn(t *testing.T) {
	var dials atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if r.URL.Path != "/base/v1/publish" || r.Header.Get("Authorization") != "Bearer tok" ||
			r.Header.Get("Content-Type") != "application/json" {
			http.Error(w, "bad request line or headers: "+r.URL.Path, http.StatusBadRequest)
			return
		}
		switch string(body) {
		case "chunked":
			w.Write([]byte(`{"part":1,`))
			w.(http.Flusher).Flush()
			w.Write([]byte(`"part2":2}`))
		case "close":
			w.Header().Set("Connection", "close")
			w.Write([]byte(`{"closing":true}`))
		case "busy":
			http.Error(w, `{"error":"busy"}`, http.StatusServiceUnavailable)
		case "big":
			w.Write([]byte(strings.Repeat("x", 3*maxAnswer)))
		default:
			w.Write([]byte(`{"echo":` + string(body) + `}`))
		}
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			dials.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()
	ts, err := parseTargets([]string{srv.URL + "/base"}, false)
	if err != nil {
		t.Fatal(err)
	}
	c := pubConn{t: &ts[0], token: "tok"}
	defer c.close()
	tests := []struct {
		body       string
		status     int
		answer     string
		wantDials  int64 // connections opened so far, after this request
		answerSize int
	}{
		{body: `1`, status: 200, answer: `{"echo":1}`, wantDials: 1},
		{body: `"two"`, status: 200, answer: `{"echo":"two"}`, wantDials: 1},
		{body: `chunked`, status: 200, answer: `{"part":1,"part2":2}`, wantDials: 1},
		{body: `busy`, status: 503, answer: "{\"error\":\"busy\"}\n", wantDials: 1},
		{body: `close`, status: 200, answer: `{"closing":true}`, wantDials: 1},
		{body: `3`, status: 200, answer: `{"echo":3}`, wantDials: 2}, // redialled after close
		{body: `big`, status: 200, answerSize: maxAnswer, wantDials: 2},
		{body: `4`, status: 200, answer: `{"echo":4}`, wantDials: 2}, // the big body was drained
	}
	for _, tc := range tests {
		status, ans, err := c.post(context.Background(), []byte(tc.body))
		if err != nil {
			t.Fatalf("%s: %v", tc.body, err)
		}
		if status != tc.status {
			t.Fatalf("%s: status %d, want %d (%s)", tc.body, status, tc.status, ans)
		}
		if tc.answerSize > 0 {
			if len(ans) != tc.answerSize {
				t.Fatalf("%s: kept %d bytes, want %d", tc.body, len(ans), tc.answerSize)
			}
		} else if string(ans) != tc.answer {
			t.Fatalf("%s: answer %q, want %q", tc.body, ans, tc.answer)
		}
		if n := dials.Load(); n != tc.wantDials {
			t.Fatalf("%s: %d connections so far, want %d", tc.body, n, tc.wantDials)
		}
	}
	// A cancelled context interrupts and reports itself.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, _, err := c.post(ctx, []byte(`5`)); err == nil {
		t.Fatal("post with a cancelled context succeeded")
	}
}
