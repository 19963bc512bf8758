package web_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heraldpush/herald"
	"github.com/heraldpush/herald/web"
)

// recorder is a publisher that keeps what it was given.
type recorder struct {
	mu   sync.Mutex
	gw   *fakeGateway
	msgs []herald.Message
	fail error
}

func newRecorder() *recorder { return &recorder{gw: newFakeGateway()} }

func (r *recorder) Publish(ctx context.Context, msgs []herald.Message) ([]herald.Event, error) {
	r.mu.Lock()
	fail := r.fail
	if fail == nil {
		r.msgs = append(r.msgs, msgs...)
	}
	r.mu.Unlock()
	if fail != nil {
		return nil, fail
	}
	return r.gw.Publish(ctx, msgs)
}

func (r *recorder) topic(t herald.Topic) []herald.Message {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []herald.Message
	for _, m := range r.msgs {
		if m.Topic == t {
			out = append(out, m)
		}
	}
	return out
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func newHandler(t *testing.T, pub web.PublishFunc, step time.Duration) *web.Handler {
	t.Helper()
	h := web.New(web.Options{Publish: pub, Logger: quietLogger(), StepInterval: step})
	t.Cleanup(func() { _ = h.Close() })
	return h
}

func do(h http.Handler, method, target, body string, hdr ...string) *httptest.ResponseRecorder {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req := httptest.NewRequest(method, target, rd)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	return w
}

func TestPages(t *testing.T) {
	h := newHandler(t, newRecorder().Publish, time.Second)
	tests := []struct {
		path, contains, ctype string
	}{
		{"/", "Push live updates", "text/html"},
		{"/demo", "Watch events flow through Herald", "text/html"},
		{"/dashboard", "dashboard", "text/html"},
		{"/static/herald.css", "--brand", "text/css"},
		{"/static/demo.js", "EventSource", "javascript"},
		{"/static/favicon.svg", "<svg", "image/svg+xml"},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			w := do(h, http.MethodGet, tt.path, "")
			if w.Code != http.StatusOK {
				t.Fatalf("GET %s = %d", tt.path, w.Code)
			}
			if ct := w.Header().Get("Content-Type"); !strings.Contains(ct, tt.ctype) {
				t.Errorf("Content-Type = %q, want %s", ct, tt.ctype)
			}
			if !strings.Contains(w.Body.String(), tt.contains) {
				t.Errorf("body lacks %q", tt.contains)
			}
			if w.Header().Get("ETag") == "" || w.Header().Get("Cache-Control") == "" {
				t.Errorf("missing caching headers: %v", w.Header())
			}
		})
	}
}

func TestPagesUseVersionedAssets(t *testing.T) {
	h := newHandler(t, nil, time.Second)
	body := do(h, http.MethodGet, "/demo", "").Body.String()
	m := regexp.MustCompile(`"/static/herald\.css\?v=([0-9a-f]+)"`).FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("demo page does not reference a versioned herald.css:\n%s", body[:400])
	}
	w := do(h, http.MethodGet, "/static/herald.css?v="+m[1], "")
	if cc := w.Header().Get("Cache-Control"); !strings.Contains(cc, "immutable") {
		t.Errorf("versioned asset Cache-Control = %q, want immutable", cc)
	}
	w = do(h, http.MethodGet, "/static/herald.css?v=stale", "")
	if cc := w.Header().Get("Cache-Control"); strings.Contains(cc, "immutable") {
		t.Errorf("an outdated ?v= must not be cached for good, got %q", cc)
	}
	etag := w.Header().Get("ETag")
	w = do(h, http.MethodGet, "/static/herald.css", "", "If-None-Match", etag)
	if w.Code != http.StatusNotModified {
		t.Errorf("revalidation with the ETag = %d, want 304", w.Code)
	}
	if csp := do(h, http.MethodGet, "/", "").Header().Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") {
		t.Errorf("landing page CSP = %q", csp)
	}
}

func TestErrorsAreJSON(t *testing.T) {
	h := newHandler(t, newRecorder().Publish, time.Second)
	tests := []struct {
		name, method, path, body string
		ctype                    string
		status                   int
		code                     string
	}{
		{"unknown page", "GET", "/nope", "", "", 404, "not_found"},
		{"unknown asset", "GET", "/static/nope.js", "", "", 404, "not_found"},
		{"scan by GET", "GET", "/demo/scan", "", "", 405, "method_not_allowed"},
		{"page by POST", "POST", "/demo", "", "", 405, "method_not_allowed"},
		{"bad json", "POST", "/demo/scan", "{", "application/json", 400, "invalid_json"},
		{"unknown field", "POST", "/demo/scan", `{"x":1}`, "application/json", 400, "invalid_json"},
		{"trailing data", "POST", "/demo/scan", `{} {}`, "application/json", 400, "invalid_json"},
		{"form body", "POST", "/demo/scan", `a=b`, "application/x-www-form-urlencoded", 415, "unsupported_media_type"},
		{"bad sample", "POST", "/demo/scan", `{"sample":"cat"}`, "application/json", 400, "invalid_sample"},
		{"huge body", "POST", "/demo/raffle/enter", `{"name":"` + strings.Repeat("a", 5000) + `"}`, "application/json", 413, "body_too_large"},
		{"long name", "POST", "/demo/raffle/enter", `{"name":"` + strings.Repeat("é", 25) + `"}`, "application/json", 400, "invalid_name"},
		{"control name", "POST", "/demo/raffle/enter", `{"name":"a\u0007b"}`, "application/json", 400, "invalid_name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest(tt.method, tt.path, strings.NewReader(tt.body))
			if tt.ctype != "" {
				req.Header.Set("Content-Type", tt.ctype)
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, req)
			if w.Code != tt.status {
				t.Errorf("status = %d, want %d (%s)", w.Code, tt.status, w.Body)
			}
			var e struct{ Error, Code string }
			if err := json.Unmarshal(w.Body.Bytes(), &e); err != nil || e.Error == "" {
				t.Fatalf("body is not a JSON error: %q (%v)", w.Body, err)
			}
			if e.Code != tt.code {
				t.Errorf("code = %q, want %q", e.Code, tt.code)
			}
		})
	}
}

// scanData is the JSON data of a scan event.
type scanData struct {
	Step     string          `json:"step"`
	Progress int             `json:"progress"`
	Status   string          `json:"status"`
	Result   json.RawMessage `json:"result"`
	Final    bool            `json:"final"`
}

func startScan(t *testing.T, h http.Handler) herald.Topic {
	t.Helper()
	w := do(h, http.MethodPost, "/demo/scan", `{"sample":"bottle"}`)
	if w.Code != http.StatusAccepted {
		t.Fatalf("POST /demo/scan = %d %s", w.Code, w.Body)
	}
	var resp struct{ Topic, ID string }
	if err := json.Unmarshal(w.Body.Bytes(), &resp); err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^scan:[0-9a-f]{16}$`).MatchString(resp.Topic) || resp.ID == "" {
		t.Fatalf("answer = %s", w.Body)
	}
	return herald.Topic(resp.Topic)
}

func waitFor(t *testing.T, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within %v", d)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestScanPublishesThePipeline(t *testing.T) {
	rec := newRecorder()
	h := newHandler(t, rec.Publish, 10*time.Millisecond)
	topic := startScan(t, h)
	// The first event is published before the answer, so a subscriber never waits on nothing.
	if n := len(rec.topic(topic)); n < 1 {
		t.Fatalf("no event published before the answer")
	}
	waitFor(t, 5*time.Second, func() bool {
		m := rec.topic(topic)
		return len(m) > 0 && m[len(m)-1].Final
	})
	msgs := rec.topic(topic)
	var got []string
	for i, m := range msgs {
		var d scanData
		if err := json.Unmarshal(m.Data, &d); err != nil {
			t.Fatalf("event %d data %q: %v", i, m.Data, err)
		}
		if string(m.Name) != d.Step {
			t.Errorf("event %d named %q carries step %q", i, m.Name, d.Step)
		}
		if m.Final != (i == len(msgs)-1) || d.Final != m.Final {
			t.Errorf("event %d final = %v/%v", i, m.Final, d.Final)
		}
		if (d.Step == "answer" && d.Status == "completed") != (len(d.Result) > 0) {
			t.Errorf("event %d: result only on the answer's completion, got %s", i, m.Data)
		}
		if m.SentTime == 0 {
			t.Errorf("event %d has no SentTime", i)
		}
		got = append(got, d.Step+":"+d.Status)
		if i == len(msgs)-1 && d.Progress != 100 {
			t.Errorf("last progress = %d", d.Progress)
		}
	}
	if strings.Join(got, " ") != strings.Join(wantScanSequence, " ") {
		t.Errorf("pipeline:\n got %v\nwant %v", got, wantScanSequence)
	}
}

func TestCloseCancelsScans(t *testing.T) {
	rec := newRecorder()
	h := web.New(web.Options{Publish: rec.Publish, Logger: quietLogger(), StepInterval: time.Hour})
	topic := startScan(t, h)
	done := make(chan struct{})
	go func() { _ = h.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not stop the pipeline")
	}
	msgs := rec.topic(topic)
	last := msgs[len(msgs)-1]
	if !last.Final || !strings.Contains(string(last.Data), `"cancelled"`) {
		t.Errorf("last event after Close = %s (final %v), want a final cancelled event", last.Data, last.Final)
	}
	if w := do(h, http.MethodPost, "/demo/scan", ""); w.Code != http.StatusServiceUnavailable || !strings.Contains(w.Body.String(), "shutting_down") {
		t.Errorf("scan after Close = %d %s", w.Code, w.Body)
	}
	_ = h.Close() // idempotent
}

func TestScanLimitAndPublishFailure(t *testing.T) {
	rec := newRecorder()
	h := web.New(web.Options{Publish: rec.Publish, Logger: quietLogger(), StepInterval: time.Hour, MaxScans: 1})
	defer h.Close()
	startScan(t, h)
	if w := do(h, http.MethodPost, "/demo/scan", ""); w.Code != http.StatusTooManyRequests {
		t.Errorf("second scan over MaxScans = %d, want 429", w.Code)
	}

	rec2 := newRecorder()
	rec2.fail = herald.ErrEngineUnavailable
	h2 := newHandler(t, rec2.Publish, time.Hour)
	if w := do(h2, http.MethodPost, "/demo/scan", ""); w.Code != http.StatusServiceUnavailable || !strings.Contains(w.Body.String(), "publish_failed") {
		t.Errorf("scan with a failing engine = %d %s", w.Code, w.Body)
	}
	if w := do(h2, http.MethodPost, "/demo/raffle/enter", ""); w.Code != http.StatusServiceUnavailable {
		t.Errorf("raffle with a failing engine = %d %s", w.Code, w.Body)
	}
	h3 := newHandler(t, nil, time.Hour)
	if w := do(h3, http.MethodPost, "/demo/scan", ""); w.Code != http.StatusServiceUnavailable || !strings.Contains(w.Body.String(), "demo_disabled") {
		t.Errorf("scan without a publisher = %d %s", w.Code, w.Body)
	}
}

type raffleView struct {
	ID       string `json:"id"`
	Name     string `json:"name"`
	Odds     float64
	Round    int `json:"round"`
	Entries  int `json:"entries"`
	Entrants []struct {
		Name    string  `json:"name"`
		Tickets int     `json:"tickets"`
		Odds    float64 `json:"odds"`
	} `json:"entrants"`
}

func enter(t *testing.T, h http.Handler, body string) raffleView {
	t.Helper()
	w := do(h, http.MethodPost, "/demo/raffle/enter", body)
	if w.Code != http.StatusOK {
		t.Fatalf("enter = %d %s", w.Code, w.Body)
	}
	var v raffleView
	if err := json.Unmarshal(w.Body.Bytes(), &v); err != nil {
		t.Fatal(err)
	}
	return v
}

func TestRaffleOddsBroadcast(t *testing.T) {
	rec := newRecorder()
	h := newHandler(t, rec.Publish, time.Second)

	var snap raffleView
	if err := json.Unmarshal(do(h, http.MethodGet, "/demo/raffle", "").Body.Bytes(), &snap); err != nil {
		t.Fatal(err)
	}
	if snap.ID != "" || snap.Entries != 0 || snap.Entrants == nil {
		t.Errorf("initial snapshot = %+v", snap)
	}

	g1 := enter(t, h, "")
	if g1.Name != "Guest 1" || g1.Odds != 1 {
		t.Errorf("first entry = %+v", g1)
	}
	enter(t, h, `{"name":"  Ana  "}`)
	last := enter(t, h, `{"name":"Ana"}`)
	if last.Entries != 3 || last.Name != "Ana" {
		t.Fatalf("after three entries: %+v", last)
	}
	odds := map[string]float64{}
	for _, e := range last.Entrants {
		odds[e.Name] = e.Odds
	}
	if odds["Ana"] != 0.6667 || odds["Guest 1"] != 0.3333 {
		t.Errorf("odds = %v", odds)
	}

	msgs := rec.topic(web.RaffleTopic)
	if len(msgs) != 3 {
		t.Fatalf("published %d odds events, want 3", len(msgs))
	}
	for _, m := range msgs {
		if m.Name != web.RaffleEvent || m.Final {
			t.Errorf("odds event %+v", m)
		}
	}
	var lastData raffleView
	if err := json.Unmarshal(msgs[2].Data, &lastData); err != nil || lastData.Entries != 3 {
		t.Errorf("last broadcast = %s (%v)", msgs[2].Data, err)
	}
	if err := json.Unmarshal(do(h, http.MethodGet, "/demo/raffle", "").Body.Bytes(), &snap); err != nil {
		t.Fatal(err)
	}
	if snap.ID != last.ID || snap.Entries != 3 {
		t.Errorf("snapshot %+v does not match the last entry %s", snap, last.ID)
	}

	// A failed publish leaves the state as it was.
	rec.mu.Lock()
	rec.fail = errors.New("boom")
	rec.mu.Unlock()
	if w := do(h, http.MethodPost, "/demo/raffle/enter", ""); w.Code != http.StatusServiceUnavailable {
		t.Errorf("enter with failing publish = %d", w.Code)
	}
	if err := json.Unmarshal(do(h, http.MethodGet, "/demo/raffle", "").Body.Bytes(), &snap); err != nil || snap.Entries != 3 {
		t.Errorf("state changed by a failed publish: %+v", snap)
	}
}

func TestRaffleRoundsStayBounded(t *testing.T) {
	rec := newRecorder()
	h := newHandler(t, rec.Publish, time.Second)
	var v raffleView
	for i := 0; i < 501; i++ {
		v = enter(t, h, `{"name":"Bo"}`)
	}
	if v.Round != 2 || v.Entries != 1 {
		t.Errorf("after 501 entries: round %d, entries %d; want round 2 with 1 entry", v.Round, v.Entries)
	}
}
