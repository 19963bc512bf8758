package client

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"
)

func TestEventWire(t *testing.T) {
	tests := []struct {
		name string
		data any
		want string
	}{
		{"string is text", "hello\nworld", `"hello\nworld"`},
		{"bytes are text", []byte("raw"), `"raw"`},
		{"raw JSON as is", json.RawMessage(`{"a":1}`), `{"a":1}`},
		{"map", map[string]int{"pct": 40}, `{"pct":40}`},
		{"number", 42, `42`},
		{"nil is null", nil, `null`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev := Event{Topic: "t", Data: tt.data}
			w, err := ev.wire()
			if err != nil {
				t.Fatal(err)
			}
			if string(w.Data) != tt.want {
				t.Fatalf("data = %s, want %s", w.Data, tt.want)
			}
		})
	}
	ev := Event{Topic: "t", Data: json.RawMessage(`{bad`)}
	if _, err := ev.wire(); err == nil {
		t.Fatal("invalid json.RawMessage accepted")
	}
}

func TestPublish(t *testing.T) {
	var got struct {
		path, auth, sent string
		body             map[string]any
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got.path, got.auth, got.sent = r.URL.Path, r.Header.Get("Authorization"), r.Header.Get(SentTimeHeader)
		json.NewDecoder(r.Body).Decode(&got.body)
		if _, ok := got.body["events"]; ok {
			io.WriteString(w, `{"ids":["e-1","e-2"]}`)
			return
		}
		io.WriteString(w, `{"id":"e-1"}`)
	}))
	defer srv.Close()
	p, err := NewPublisher(srv.URL+"/", WithToken("s3cret"))
	if err != nil {
		t.Fatal(err)
	}
	before := time.Now().UnixNano()
	id, err := p.Publish(context.Background(), Event{Topic: "scan:1", Event: "progress", Data: map[string]int{"pct": 1}, Final: true})
	if err != nil || id != "e-1" {
		t.Fatalf("Publish = %q, %v", id, err)
	}
	if got.path != "/v1/publish" || got.auth != "Bearer s3cret" {
		t.Fatalf("path %q auth %q", got.path, got.auth)
	}
	if ns, err := strconv.ParseInt(got.sent, 10, 64); err != nil || ns < before {
		t.Fatalf("%s = %q, want unix nanos after %d", SentTimeHeader, got.sent, before)
	}
	want := map[string]any{"topic": "scan:1", "event": "progress", "data": map[string]any{"pct": 1.0}, "final": true}
	if b1, b2 := mustJSON(got.body), mustJSON(want); b1 != b2 {
		t.Fatalf("body %s, want %s", b1, b2)
	}

	ids, err := p.PublishBatch(context.Background(), []Event{{Topic: "a", Data: "x"}, {Topic: "b", Data: "y"}})
	if err != nil || len(ids) != 2 || ids[1] != "e-2" {
		t.Fatalf("PublishBatch = %v, %v", ids, err)
	}
	if evs, _ := got.body["events"].([]any); len(evs) != 2 {
		t.Fatalf("batch body %s", mustJSON(got.body))
	}
}

func TestPublishErrors(t *testing.T) {
	tests := []struct {
		name   string
		status int
		body   string
		want   Error
		temp   bool
	}{
		{"json error", 409, `{"error":"topic closed by a final event","code":"topic_closed"}`, Error{409, "topic_closed", "topic closed by a final event"}, false},
		{"plain text", 502, "bad gateway\n", Error{502, "", "bad gateway"}, true},
		{"too many", 429, `{"error":"slow down","code":"rate_limited"}`, Error{429, "rate_limited", "slow down"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(tt.status)
				io.WriteString(w, tt.body)
			}))
			defer srv.Close()
			p, _ := NewPublisher(srv.URL)
			_, err := p.Publish(context.Background(), Event{Topic: "t", Data: 1})
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("error %v (%T), want *Error", err, err)
			}
			if *e != tt.want || e.Temporary() != tt.temp {
				t.Fatalf("got %+v temporary %v, want %+v %v", *e, e.Temporary(), tt.want, tt.temp)
			}
		})
	}
}

func TestNewPublisherBadURL(t *testing.T) {
	for _, u := range []string{"", "127.0.0.1:8080", "ftp://x", "http://"} {
		if _, err := NewPublisher(u); err == nil {
			t.Errorf("NewPublisher(%q) succeeded", u)
		}
	}
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
