package server_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/heraldpush/herald/server"
)

func TestStreamOpensAtOnceWithHeaders(t *testing.T) {
	g := newGateway(t, server.Config{Retry: 1500 * time.Millisecond})
	resp, err := http.Get(g.url + "/v1/events?topic=news")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	for k, want := range map[string]string{"Content-Type": "text/event-stream", "Cache-Control": "no-cache", "X-Accel-Buffering": "no"} {
		if got := resp.Header.Get(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	// Before any event exists: a comment, retry, and the starting cursor.
	br := bufio.NewReader(resp.Body)
	var lines []string
	for len(lines) < 5 {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("read preamble: %v (got %q)", err, lines)
		}
		lines = append(lines, strings.TrimRight(line, "\n"))
	}
	if !strings.HasPrefix(lines[0], ":") || lines[1] != "retry: 1500" || !strings.HasPrefix(lines[3], "id: ") {
		t.Fatalf("preamble = %q", lines)
	}
}

func TestPublishBeforeSubscribeReplay(t *testing.T) {
	g := newGateway(t, server.Config{Namespaces: map[string]server.Namespace{"scan": {Replay: "all"}}})
	// The task starts before the browser subscribes.
	g.publish(t, "scan:t1", "vision", map[string]int{"progress": 10}, false)
	g.publish(t, "scan:t1", "rule", map[string]int{"progress": 50}, false)
	g.publish(t, "news:1", "", "old", false)

	s := g.open(t, "/v1/events?topic=scan:t1", nil)
	evs := s.Expect(t, `{"progress":10}`, `{"progress":50}`)
	if evs[0].Name != "vision" || evs[1].Name != "rule" {
		t.Fatalf("names %q %q", evs[0].Name, evs[1].Name)
	}
	g.publish(t, "scan:t1", "answer", map[string]int{"progress": 100}, true)
	s.Expect(t, `{"progress":100}`)
	s.ExpectEnd(t)

	// A namespace without replay starts live; earliest replays anyway.
	live := g.open(t, "/v1/events?topic=news:1", nil)
	early := g.open(t, "/v1/events?topic=news:1&lastEventID=earliest", nil)
	early.Expect(t, "old")
	g.publish(t, "news:1", "", "new", false)
	live.Expect(t, "new")
	early.Expect(t, "new")
}

func TestResumeSingleTopic(t *testing.T) {
	g := newGateway(t, server.Config{})
	s := g.open(t, "/v1/events?topic=chat", nil)
	for i := 1; i <= 3; i++ {
		g.publish(t, "chat", "msg", fmt.Sprint(i), false)
	}
	evs := s.Expect(t, "1", "2", "3")
	s.Close()
	// Missed while away.
	for i := 4; i <= 6; i++ {
		g.publish(t, "chat", "msg", fmt.Sprint(i), false)
	}
	// Header, and both query spellings.
	for _, how := range []string{"header", "lastEventID", "lastEventId"} {
		t.Run(how, func(t *testing.T) {
			var r *stream
			if how == "header" {
				r = g.open(t, "/v1/events?topic=chat", lastEventID(evs[1].ID))
			} else {
				r = g.open(t, "/v1/events?topic=chat&"+how+"="+evs[1].ID, nil)
			}
			r.Expect(t, "3", "4", "5", "6")
			r.ExpectQuiet(t, 100*time.Millisecond)
		})
	}
}

func TestResumeMultiTopic(t *testing.T) {
	g := newGateway(t, server.Config{})
	s := g.open(t, "/v1/events?topic=b&topic=a&topic=a", nil)
	g.publish(t, "a", "", "a1", false)
	g.publish(t, "b", "", "b1", false)
	g.publish(t, "a", "", "a2", false)
	evs := s.Expect(t, "a1", "b1", "a2")
	s.Close()
	g.publish(t, "b", "", "b2", false)
	g.publish(t, "a", "", "a3", false)
	g.publish(t, "c", "", "c1", false)

	// Resuming after b1: a2 is re-sent (it came after b1), then b2 and a3, each exactly once.
	r := g.open(t, "/v1/events?topic=a&topic=b", lastEventID(evs[1].ID))
	got := map[string]bool{}
	for range 3 {
		got[string(r.Next(t).Data)] = true
	}
	for _, w := range []string{"a2", "a3", "b2"} {
		if !got[w] {
			t.Fatalf("resumed events %v lack %s", got, w)
		}
	}
	r.ExpectQuiet(t, 100*time.Millisecond)

	// The order of topics in the URL does not matter for the cursor.
	last := g.open(t, "/v1/events?topic=b&topic=a", lastEventID(evs[2].ID))
	seen := map[string]bool{}
	for range 2 {
		seen[string(last.Next(t).Data)] = true
	}
	if !seen["b2"] || !seen["a3"] {
		t.Fatalf("resume after a2 gave %v", seen)
	}
	last.ExpectQuiet(t, 100*time.Millisecond)
}

func TestResetOnUnusableCursor(t *testing.T) {
	g := newGateway(t, server.Config{HistorySize: 3})
	ids := make([]string, 0, 10)
	for i := 1; i <= 10; i++ {
		ids = append(ids, g.publish(t, "t", "", fmt.Sprint(i), false))
	}
	// A cursor still inside history resumes without reset.
	in := g.open(t, "/v1/events?topic=t", lastEventID(ids[8]))
	in.Expect(t, "10")

	cases := []struct {
		name, cursor, reason string
		topics               string
	}{
		{"expired", ids[2], "expired", "topic=t"},
		{"malformed", "not a cursor!", "malformed", "topic=t"},
		{"future", strings.Replace(ids[9], "-10", "-99", 1), "malformed", "topic=t"},
		{"epoch", "zzzzzzzz-4", "epoch", "topic=t"},
		{"mismatch", ids[8], "mismatch", "topic=t&topic=u"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := g.open(t, "/v1/events?"+c.topics, lastEventID(c.cursor))
			ev := s.Next(t)
			if ev.Name != "reset" {
				t.Fatalf("first event %q %q, want reset", ev.Name, ev.Data)
			}
			var data struct {
				Reason string   `json:"reason"`
				Topics []string `json:"topics"`
			}
			if err := json.Unmarshal(ev.Data, &data); err != nil || data.Reason != c.reason || len(data.Topics) == 0 {
				t.Fatalf("reset data %s (%v), want reason %q", ev.Data, err, c.reason)
			}
			if ev.ID == "" {
				t.Fatalf("reset carries no id")
			}
			// Then live, resumable from the reset's id.
			g.publish(t, "t", "", "live", false)
			s.Expect(t, "live")
		})
	}
}

func TestFinalClosesTopicAnd204(t *testing.T) {
	g := newGateway(t, server.Config{})
	s := g.open(t, "/v1/events?topic=job:1", nil)
	g.publish(t, "job:1", "step", "1", false)
	finalID := g.publish(t, "job:1", "done", "2", true)
	evs := s.Expect(t, "1", "2")
	if evs[1].ID != finalID {
		t.Fatalf("final id %q, want %q", evs[1].ID, finalID)
	}
	s.ExpectEnd(t)

	// Reconnect at the final event: 204, which stops EventSource for good.
	for _, path := range []string{"/v1/events?topic=job:1", "/v1/events?topic=job:1&lastEventID=" + finalID} {
		req, _ := http.NewRequest("GET", g.url+path, nil)
		if !strings.Contains(path, "lastEventID") {
			req.Header.Set("Last-Event-ID", finalID)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNoContent {
			t.Fatalf("%s: status %d, want 204", path, resp.StatusCode)
		}
	}
	// A reconnect from before the final gets the rest and ends.
	r := g.open(t, "/v1/events?topic=job:1", lastEventID(evs[0].ID))
	r.Expect(t, "2")
	r.ExpectEnd(t)
	// A fresh subscription with earliest replays the whole task and ends.
	e := g.open(t, "/v1/events?topic=job:1&lastEventID=earliest", nil)
	e.Expect(t, "1", "2")
	e.ExpectEnd(t)
	// Publishing to a closed topic is a 409.
	status, ans := g.post(t, `{"topic":"job:1","data":"late"}`)
	if status != http.StatusConflict || ans["code"] != "topic_closed" {
		t.Fatalf("publish after final: %d %v", status, ans)
	}
}

func TestMultiTopicStreamEndsWhenAllClosed(t *testing.T) {
	g := newGateway(t, server.Config{})
	s := g.open(t, "/v1/events?topic=x&topic=y", nil)
	g.publish(t, "x", "", "x-final", true)
	s.Expect(t, "x-final")
	s.ExpectQuiet(t, 100*time.Millisecond)
	g.publish(t, "y", "", "y1", false)
	g.publish(t, "y", "", "y-final", true)
	s.Expect(t, "y1", "y-final")
	s.ExpectEnd(t)
}

func TestHostileDataKeepsFraming(t *testing.T) {
	g := newGateway(t, server.Config{})
	s := g.open(t, "/v1/events?topic=f", nil)
	payloads := []string{"a\nb", "a\r\nb", "a\rb", "\n\nid: 666\nevent: evil\ndata: x\n\n", "trailing\n", "", "  spaced", "üñí©ødé"}
	for _, p := range payloads {
		g.publish(t, "f", "e", p, false)
	}
	for _, p := range payloads {
		ev := s.Next(t)
		want := strings.NewReplacer("\r\n", "\n", "\r", "\n").Replace(p)
		if string(ev.Data) != want || ev.Name != "e" {
			t.Fatalf("data %q name %q, want %q", ev.Data, ev.Name, want)
		}
	}
	for _, name := range []string{"a\nb", "a\rb", "a\x00b", "reset"} {
		body, _ := json.Marshal(map[string]any{"topic": "f", "event": name, "data": "x"})
		status, ans := g.post(t, string(body))
		if status != http.StatusBadRequest || ans["code"] != "invalid_event" {
			t.Fatalf("event name %q: %d %v", name, status, ans)
		}
	}
	s.ExpectQuiet(t, 50*time.Millisecond)
}

func TestPublishErrors(t *testing.T) {
	g := newGateway(t, server.Config{MaxMessageBytes: 100, MaxBatch: 3, MaxBodyBytes: 2000})
	cases := []struct {
		name, body string
		status     int
		code       string
	}{
		{"not json", `{"topic":`, 400, "invalid_json"},
		{"two values", `{"topic":"a"} {}`, 400, "invalid_json"},
		{"trailing brace", `{"topic":"a"} }`, 400, "invalid_json"},
		{"trailing garbage", `{"topic":"a"} x`, 400, "invalid_json"},
		{"padding past the body limit", `{"topic":"a"}` + strings.Repeat(" ", 3000), 413, "too_large"},
		{"unknown field", `{"topic":"a","dat":1}`, 400, "invalid_json"},
		{"no topic", `{"data":1}`, 400, "invalid_topic"},
		{"space in topic", `{"topic":"a b"}`, 400, "invalid_topic"},
		{"long topic", `{"topic":"` + strings.Repeat("x", 256) + `"}`, 400, "invalid_topic"},
		{"non-ascii topic", `{"topic":"ü"}`, 400, "invalid_topic"},
		{"big data", `{"topic":"a","data":"` + strings.Repeat("x", 101) + `"}`, 413, "too_large"},
		{"big body", `{"topic":"a","data":"` + strings.Repeat("x", 3000) + `"}`, 413, "too_large"},
		{"big batch", `{"events":[{"topic":"a"},{"topic":"a"},{"topic":"a"},{"topic":"a"}]}`, 413, "too_large"},
		{"empty batch", `{"events":[]}`, 400, "invalid_json"},
		{"mixed", `{"topic":"a","events":[{"topic":"a"}]}`, 400, "invalid_json"},
		{"bad item", `{"events":[{"topic":"a"},{"topic":""}]}`, 400, "invalid_topic"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			status, ans := g.post(t, c.body)
			if status != c.status || ans["code"] != c.code || ans["error"] == "" {
				t.Fatalf("got %d %v, want %d %s", status, ans, c.status, c.code)
			}
		})
	}
	// Nothing of the rejected requests was stored.
	s := g.open(t, "/v1/events?topic=a&lastEventID=earliest", nil)
	s.ExpectQuiet(t, 100*time.Millisecond)

	resp, err := http.Get(g.url + "/v1/publish")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Fatalf("GET /v1/publish: %d", resp.StatusCode)
	}
}

func TestPublishBatchAndDataForms(t *testing.T) {
	g := newGateway(t, server.Config{})
	s := g.open(t, "/v1/events?topic=a&topic=b", nil)
	status, ans := g.post(t, `{"events":[{"topic":"a","data":"text"},{"topic":"b","data":{"k": [1, 2]}},{"topic":"a","data":42},{"topic":"a"}]}`)
	if status != 200 {
		t.Fatalf("batch: %d %v", status, ans)
	}
	ids, _ := ans["ids"].([]any)
	if len(ids) != 4 {
		t.Fatalf("ids %v", ans)
	}
	s.Expect(t, "text", `{"k":[1,2]}`, "42", "")
	// A batch that hits a closed topic reports what was published before the error.
	g.publish(t, "c", "", "end", true)
	status, ans = g.post(t, `{"events":[{"topic":"a","data":"ok"},{"topic":"c","data":"late"}]}`)
	if status != http.StatusConflict || len(ans["ids"].([]any)) != 1 {
		t.Fatalf("partial batch: %d %v", status, ans)
	}
}

func TestBadStreamRequests(t *testing.T) {
	g := newGateway(t, server.Config{MaxTopics: 2})
	for _, q := range []string{"", "topic=", "topic=a%20b", "topic=%00", "topic=a&topic=b&topic=c"} {
		resp, err := http.Get(g.url + "/v1/events?" + q)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var e map[string]string
		if resp.StatusCode != 400 || json.Unmarshal(body, &e) != nil || e["code"] != "invalid_topic" {
			t.Fatalf("%q: %d %s", q, resp.StatusCode, body)
		}
	}
}

func TestHealthAndReady(t *testing.T) {
	g := newGateway(t, server.Config{})
	for _, p := range []string{"/healthz", "/readyz"} {
		resp, err := http.Get(g.url + p)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("%s: %d", p, resp.StatusCode)
		}
	}
}

func TestHeartbeats(t *testing.T) {
	for _, event := range []string{"", "ping"} {
		t.Run("event="+event, func(t *testing.T) {
			g := newGateway(t, server.Config{Heartbeat: 200 * time.Millisecond, HeartbeatEvent: event})
			s := g.open(t, "/v1/events?topic=quiet", nil)
			if event == "" {
				deadline := time.After(waitFor)
				for n := 0; n < 3; {
					select {
					case c := <-s.Comments:
						if c == "" {
							n++
						}
					case <-deadline:
						t.Fatalf("fewer than 3 heartbeat comments")
					}
				}
				return
			}
			for range 2 {
				ev := s.Next(t)
				var d map[string]int64
				if ev.Name != "ping" || json.Unmarshal(ev.Data, &d) != nil || d["time"] == 0 {
					t.Fatalf("heartbeat event %q %q", ev.Name, ev.Data)
				}
			}
		})
	}
}

func TestMaxLifetimeEndsStreamForResume(t *testing.T) {
	g := newGateway(t, server.Config{MaxLifetime: 800 * time.Millisecond})
	start := time.Now()
	s := g.open(t, "/v1/events?topic=l", nil)
	g.publish(t, "l", "", "1", false)
	evs := s.Expect(t, "1")
	s.ExpectEnd(t)
	if d := time.Since(start); d < 600*time.Millisecond || d > 3*time.Second {
		t.Fatalf("stream lasted %s, want about 800ms ±10%%", d)
	}
	g.publish(t, "l", "", "2", false)
	r := g.open(t, "/v1/events?topic=l", lastEventID(evs[0].ID))
	r.Expect(t, "2")
}
