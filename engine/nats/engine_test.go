package natsengine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/heraldpush/herald"
	"github.com/heraldpush/herald/engine/enginetest"
	"github.com/heraldpush/herald/internal/testserver"
)

func TestTopicKey(t *testing.T) {
	for _, tc := range []struct {
		topic herald.Topic
		key   string
	}{
		{"a", "YQ"},
		{"scan:abc/1.*", "c2NhbjphYmMvMS4q"},
		{">", "Pg"},
		{"x.y.>", "eC55Lj4"},
		{"~~~", "fn5-"},
		{herald.Topic(strings.Repeat("z", herald.MaxTopicLen)), ""},
	} {
		t.Run(string(tc.topic[:min(len(tc.topic), 12)]), func(t *testing.T) {
			k := topicKey(tc.topic)
			if tc.key != "" && k != tc.key {
				t.Errorf("topicKey(%q) = %q, want %q", tc.topic, k, tc.key)
			}
			if strings.ContainsAny(k, ".*> \t") || k == "" {
				t.Errorf("topicKey(%q) = %q is not a single literal subject token", tc.topic, k)
			}
			if back, err := keyTopic(k); err != nil || back != tc.topic {
				t.Errorf("keyTopic(%q) = %q, %v; want %q", k, back, err, tc.topic)
			}
		})
	}
}

// liveSubjectSubs counts, over the server's connections, subscriptions whose subject is subj.
func liveSubjectSubs(t *testing.T, srv *testserver.NATSServer, subj string) int {
	t.Helper()
	resp, err := http.Get(srv.MonitorURL() + "/connz?subs=1")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var connz struct {
		Connections []struct {
			Subs []string `json:"subscriptions_list"`
		} `json:"connections"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&connz); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, c := range connz.Connections {
		for _, s := range c.Subs {
			if s == subj {
				n++
			}
		}
	}
	return n
}

// TestInterest: a node holds a server-side subscription for a topic only between its
// Subscribe and Unsubscribe, and a node that never subscribed receives nothing.
func TestInterest(t *testing.T) {
	srv := testserver.NATS(t)
	a, b := newEngine(t, srv.URL(), nil), newEngine(t, srv.URL(), nil)
	ra, rb := enginetest.NewRecorder(), enginetest.NewRecorder()
	ctx := t.Context()
	if err := a.Start(ctx, ra); err != nil {
		t.Fatal(err)
	}
	if err := b.Start(ctx, rb); err != nil {
		t.Fatal(err)
	}
	topic := herald.Topic("room:interest")
	s, _ := a.streamFor(ctx, topic)
	live := s.live + topicKey(topic)
	if n := liveSubjectSubs(t, srv, live); n != 0 {
		t.Fatalf("%d subscriptions on %s before Subscribe", n, live)
	}
	if err := a.Subscribe(ctx, topic); err != nil {
		t.Fatal(err)
	}
	if n := liveSubjectSubs(t, srv, live); n != 1 {
		t.Fatalf("%d subscriptions on %s after one node subscribed, want 1", n, live)
	}
	if _, err := b.Publish(ctx, []herald.Message{{Topic: topic, Data: []byte("x")}}); err != nil {
		t.Fatal(err)
	}
	ra.Wait(t, topic, 1, 5*time.Second)
	if err := a.Unsubscribe(ctx, topic); err != nil {
		t.Fatal(err)
	}
	a.flush(ctx)
	if n := liveSubjectSubs(t, srv, live); n != 0 {
		t.Fatalf("%d subscriptions on %s after Unsubscribe", n, live)
	}
	if _, err := a.Publish(ctx, []herald.Message{{Topic: topic, Data: []byte("y")}}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	if got := len(rb.Events(topic)); got != 0 {
		t.Errorf("node without subscribers received %d events", got)
	}
	if got := len(ra.Events(topic)); got != 1 {
		t.Errorf("unsubscribed node received %d events, want only the 1 from before", got)
	}
}

// TestServerRestart: with nats-server stopped mid-stream, Publish fails with
// ErrEngineUnavailable and Ping fails; after the restart the node reconnects, calls Resync
// once, keeps its subscriptions and history (file storage), and resumes exactly.
func TestServerRestart(t *testing.T) {
	srv := testserver.NATS(t)
	e, err := New(t.Context(), Options{URL: srv.URL()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	rec := enginetest.NewRecorder()
	ctx := t.Context()
	if err := e.Start(ctx, rec); err != nil {
		t.Fatal(err)
	}
	topic := herald.Topic("scan:restart")
	if err := e.Subscribe(ctx, topic); err != nil {
		t.Fatal(err)
	}
	before := publishN(t, e, topic, 3)
	rec.Wait(t, topic, 3, 5*time.Second)

	srv.Stop()
	pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	_, err = e.Publish(pctx, []herald.Message{{Topic: topic, Data: []byte("lost?")}})
	cancel()
	var pe *herald.PublishError
	if !errors.Is(err, herald.ErrEngineUnavailable) || !errors.As(err, &pe) || pe.Published != 0 {
		t.Fatalf("Publish while NATS is down: %v, want a PublishError wrapping ErrEngineUnavailable", err)
	}
	if err := e.Ping(ctx); !errors.Is(err, herald.ErrEngineUnavailable) {
		t.Fatalf("Ping while NATS is down: %v", err)
	}

	srv.Start()
	deadline := time.Now().Add(10 * time.Second)
	for rec.Resyncs() == 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if n := rec.Resyncs(); n != 1 {
		t.Fatalf("Resync called %d times after the restart, want 1", n)
	}
	if err := e.Ping(ctx); err != nil {
		t.Fatalf("Ping after restart: %v", err)
	}
	after := publishN(t, e, topic, 2)
	if after[0].Prev != before[2].Seq || after[0].Epoch != before[0].Epoch {
		t.Errorf("first event after restart %s (Prev %d), want Prev %d in epoch %s", after[0].ID(), after[0].Prev, before[2].Seq, before[0].Epoch)
	}
	got := rec.Wait(t, topic, 5, 5*time.Second)
	if got[4].Seq != after[1].Seq {
		t.Errorf("delivered %v", got)
	}
	h, err := e.History(ctx, topic, 0, 100)
	if err != nil || len(h.Events) != 5 || h.State.Last != after[1].Seq {
		t.Errorf("history after restart: %d events, state %+v, err %v", len(h.Events), h.State, err)
	}
	time.Sleep(200 * time.Millisecond)
	if n := rec.Resyncs(); n != 1 {
		t.Errorf("Resync called %d times, want 1", n)
	}
}

func publishN(t *testing.T, e herald.Engine, topic herald.Topic, n int) []herald.Event {
	t.Helper()
	msgs := make([]herald.Message, n)
	for i := range msgs {
		msgs[i] = herald.Message{Topic: topic, Data: fmt.Appendf(nil, "%d", i)}
	}
	evs, err := e.Publish(t.Context(), msgs)
	if err != nil {
		t.Fatal(err)
	}
	return evs
}
