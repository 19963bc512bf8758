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
	"github.com/heraldpush/herald/bridge"
	"github.com/heraldpush/herald/engine/enginetest"
	"github.com/heraldpush/herald/internal/testserver"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
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

// TestBridge: three nodes run the bridge for scan.*.progress; a worker's plain core NATS
// publishes reach a subscriber on one node, stored exactly once each, in order, and the
// final_when rule closes the topic.
func TestBridge(t *testing.T) {
	srv := testserver.NATS(t)
	rules := func() []bridge.Rule {
		return []bridge.Rule{{
			Pattern: "scan.*.progress", Topic: "scan:{1}", EventField: "step",
			FinalWhen: &bridge.Condition{Field: "progress", Equals: 100},
		}}
	}
	ctx := t.Context()
	var nodes []*Engine
	var recs []*enginetest.Recorder
	for range 3 {
		e, rec := startedEngine(t, Options{URL: srv.URL(), Storage: jetstream.MemoryStorage, Bridge: rules()})
		nodes, recs = append(nodes, e), append(recs, rec)
	}
	topic := herald.Topic("scan:abc")
	if err := nodes[2].Subscribe(ctx, topic); err != nil {
		t.Fatal(err)
	}
	nodes[0].flush(ctx) // the queue subscriptions of all nodes are on the server
	for _, n := range nodes {
		n.flush(ctx)
	}

	worker, err := nats.Connect(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer worker.Close()
	const steps = 20
	for i := 1; i <= steps; i++ {
		payload := fmt.Sprintf(`{"step":"s%d","progress":%d}`, i, i*100/steps)
		if err := worker.Publish("scan.abc.progress", []byte(payload)); err != nil {
			t.Fatal(err)
		}
		time.Sleep(5 * time.Millisecond) // a worker's steps are apart; see "Order" in bridge.go
	}
	worker.Flush()
	got := recs[2].Wait(t, topic, steps, 10*time.Second)
	h, err := nodes[1].History(ctx, topic, 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	if len(h.Events) != steps || !h.State.Closed {
		t.Fatalf("history: %d events, state %+v; want %d events, closed", len(h.Events), h.State, steps)
	}
	for i, ev := range h.Events {
		if want := fmt.Sprintf("s%d", i+1); string(ev.Name) != want || got[i].Seq != ev.Seq {
			t.Errorf("event %d: name %q seq %d (delivered seq %d), want name %q", i, ev.Name, ev.Seq, got[i].Seq, want)
		}
	}
	if !h.Events[steps-1].Final {
		t.Errorf("last event not final")
	}
}
