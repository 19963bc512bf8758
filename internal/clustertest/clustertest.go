// Package clustertest runs full Herald HTTP nodes (package server) over one shared broker and
// checks what a load balancer without sticky sessions needs: delivery on every node,
// exact resume on another node, task endings seen cluster-wide, and riding out a broker
// outage. Every distributed engine runs the same scenarios through Run.
package clustertest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/heraldpush/herald"
	"github.com/heraldpush/herald/internal/ssetest"
	"github.com/heraldpush/herald/server"
)

// Wait bounds every wait of the scenarios.
const Wait = 15 * time.Second

// Broker describes the engine and the broker under test.
type Broker struct {
	// NewEngine returns a new, unstarted engine node attached to the shared broker.
	NewEngine func(t *testing.T, cfg server.Config) herald.Engine
	// Stop and Start take the broker down and bring it back on the same address (for the
	// outage scenario); nil skips that scenario.
	Stop, Start func(t *testing.T)
}

// Node is one Herald HTTP node.
type Node struct {
	URL string
	Srv *server.Server
}

// StartNodes starts n nodes over the broker.
func StartNodes(t *testing.T, b Broker, n int, cfg server.Config) []*Node {
	t.Helper()
	return StartNodesWith(t, b, n, cfg, server.Options{})
}

// StartNodesWith starts n nodes over the broker with the given server options (the engine
// name is set per node when opts has none).
func StartNodesWith(t *testing.T, b Broker, n int, cfg server.Config, opts server.Options) []*Node {
	t.Helper()
	nodes := make([]*Node, n)
	for i := range nodes {
		eng := b.NewEngine(t, cfg)
		o := opts
		if o.EngineName == "" {
			o.EngineName = fmt.Sprintf("node%d", i)
		}
		srv, err := server.New(cfg, eng, o)
		if err != nil {
			t.Fatal(err)
		}
		if err := srv.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		ts := httptest.NewServer(srv.Handler())
		t.Cleanup(func() {
			srv.Close()
			ts.CloseClientConnections()
			ts.Close()
			eng.Close()
		})
		nodes[i] = &Node{URL: ts.URL, Srv: srv}
	}
	return nodes
}

// Post publishes one event and returns the status and the id.
func (n *Node) Post(t *testing.T, topic, data string, final bool) (int, string) {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"topic": topic, "data": data, "final": final})
	resp, err := http.Post(n.URL+"/v1/publish", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var ans struct{ ID string }
	_ = json.NewDecoder(resp.Body).Decode(&ans)
	return resp.StatusCode, ans.ID
}

// Publish publishes one event and fails the test unless it is accepted.
func (n *Node) Publish(t *testing.T, topic, data string) string {
	t.Helper()
	status, id := n.Post(t, topic, data, false)
	if status != http.StatusOK {
		t.Fatalf("publish on %s: status %d", n.URL, status)
	}
	return id
}

// Status GETs path and returns the status.
func (n *Node) Status(t *testing.T, path string) int {
	t.Helper()
	resp, err := http.Get(n.URL + path)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// Stream is an open event stream (internal/ssetest).
type Stream = ssetest.Stream

// Open opens topic's stream on n, resuming after lastID when it is set.
func (n *Node) Open(t *testing.T, topic, lastID string) *Stream {
	t.Helper()
	var h http.Header
	if lastID != "" {
		h = http.Header{"Last-Event-Id": {lastID}}
	}
	return ssetest.Open(t, http.DefaultClient, n.URL+"/v1/events?topic="+topic, h, Wait)
}

// Run runs every scenario against b.
func Run(t *testing.T, b Broker) {
	t.Run("CrossNodeOrder", func(t *testing.T) { crossNodeOrder(t, b) })
	t.Run("ResumeOnAnotherNode", func(t *testing.T) { resumeOnAnotherNode(t, b) })
	t.Run("FinalAcrossNodes", func(t *testing.T) { finalAcrossNodes(t, b) })
	t.Run("BrokerOutage", func(t *testing.T) {
		if b.Stop == nil || b.Start == nil {
			t.Log("no Stop/Start hooks: outage scenario not run")
			return
		}
		brokerOutage(t, b)
	})
}

// Publishes alternate between nodes; every node's subscriber sees the one per-topic order.
func crossNodeOrder(t *testing.T, b Broker) {
	nodes := StartNodes(t, b, 3, server.Config{})
	topic := "order:" + fmt.Sprint(time.Now().UnixNano())
	subs := make([]*Stream, len(nodes))
	for i, n := range nodes {
		subs[i] = n.Open(t, topic, "")
	}
	want := make([]string, 30)
	for i := range want {
		want[i] = fmt.Sprint(i)
		nodes[i%len(nodes)].Publish(t, topic, want[i])
	}
	for _, s := range subs {
		s.Expect(t, want...)
	}
}

// A client reads on node 0, drops, and resumes on node 1 after events published on node 2.
func resumeOnAnotherNode(t *testing.T, b Broker) {
	nodes := StartNodes(t, b, 3, server.Config{})
	topic := "resume:" + fmt.Sprint(time.Now().UnixNano())
	s := nodes[0].Open(t, topic, "")
	for i := 1; i <= 3; i++ {
		nodes[0].Publish(t, topic, fmt.Sprint(i))
	}
	evs := s.Expect(t, "1", "2", "3")
	s.Close()
	for i := 4; i <= 6; i++ {
		nodes[2].Publish(t, topic, fmt.Sprint(i))
	}
	r := nodes[1].Open(t, topic, evs[1].ID)
	r.Expect(t, "3", "4", "5", "6")
	nodes[0].Publish(t, topic, "7")
	r.Expect(t, "7")
}

// A final event published on one node ends streams on the others; reconnects get 204.
func finalAcrossNodes(t *testing.T, b Broker) {
	nodes := StartNodes(t, b, 3, server.Config{})
	topic := "task:" + fmt.Sprint(time.Now().UnixNano())
	s := nodes[0].Open(t, topic, "")
	nodes[1].Publish(t, topic, "step")
	status, finalID := nodes[2].Post(t, topic, "done", true)
	if status != http.StatusOK {
		t.Fatalf("final publish: %d", status)
	}
	s.Expect(t, "step", "done")
	s.ExpectEnd(t)
	if r := nodes[1].Open(t, topic, finalID); r.Status != http.StatusNoContent {
		t.Fatalf("reconnect at the final event on another node: %d, want 204", r.Status)
	}
	if status, _ := nodes[0].Post(t, topic, "late", false); status != http.StatusConflict {
		t.Fatalf("publish after final: %d, want 409", status)
	}
}

// The broker goes away mid-stream: readiness and publishes say so (never accepted-then-
// lost), streams stay open, a new stream still gets 200, and after the broker returns the
// streams carry on — with the events, or with a reset if the broker lost its history.
func brokerOutage(t *testing.T, b Broker) {
	nodes := StartNodes(t, b, 2, server.Config{Heartbeat: time.Second})
	topic := "outage:" + fmt.Sprint(time.Now().UnixNano())
	s := nodes[0].Open(t, topic, "")
	nodes[1].Publish(t, topic, "before")
	s.Expect(t, "before")

	b.Stop(t)
	deadline := time.Now().Add(Wait)
	for nodes[0].Status(t, "/readyz") != http.StatusServiceUnavailable {
		if time.Now().After(deadline) {
			t.Fatal("/readyz did not turn 503 while the broker was down")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if status, _ := nodes[1].Post(t, topic, "lost?", false); status != http.StatusServiceUnavailable {
		t.Fatalf("publish while the broker is down: %d, want 503", status)
	}
	late := nodes[1].Open(t, topic, "")
	if late.Status != http.StatusOK {
		t.Fatalf("a new stream while the broker is down got %d, want 200 (EventSource gives up on anything else)", late.Status)
	}
	b.Start(t)
	deadline = time.Now().Add(Wait)
	for nodes[0].Status(t, "/readyz") != http.StatusOK {
		if time.Now().After(deadline) {
			t.Fatal("/readyz did not recover")
		}
		time.Sleep(50 * time.Millisecond)
	}
	// Publish until accepted (the engine may need a moment to reconnect its publisher).
	for {
		status, _ := nodes[1].Post(t, topic, "after", false)
		if status == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("publish after the broker returned: %d", status)
		}
		time.Sleep(100 * time.Millisecond)
	}
	nodes[0].Publish(t, topic, "after2")
	// The stream that was open before the outage carries on: both events, or — when the
	// broker lost its history — a reset (it continues from the new head, which may already
	// cover them) and then whatever is published next. Never a silent gap: without a reset,
	// "after" comes before "after2".
	ev := s.Next(t)
	switch {
	case ev.Name == "reset":
		nodes[0].Publish(t, topic, "marker")
		for string(ev.Data) != "marker" {
			ev = s.Next(t)
			if d := string(ev.Data); d != "marker" && d != "after" && d != "after2" {
				t.Fatalf("after the reset: %q %q", ev.Name, d)
			}
		}
	case string(ev.Data) == "after":
		s.Expect(t, "after2")
	default:
		t.Fatalf("after the outage: %q %q without a reset: an event was lost", ev.Name, ev.Data)
	}
	// The stream opened during the outage has no cursor: it receives every event accepted
	// after its response went out, whenever its node manages to subscribe — so both events
	// published after the broker came back, first to last.
	late.Expect(t, "after", "after2")
}
