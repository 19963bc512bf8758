package hub

import (
	"context"
	"testing"
	"time"

	"github.com/heraldpush/herald"
	"github.com/heraldpush/herald/engine/memory"
)

// discardStream is a Stream that accepts every write, to measure the hub without sockets.
type discardStream struct{ n int64 }

func (d *discardStream) Write(p []byte, _ time.Time) error { d.n += int64(len(p)); return nil }
func (d *discardStream) Interrupt()                        {}

// liveConns opens n connections on topic and registers them as Run would, without writer
// goroutines: the benchmark drives flush itself.
func liveConns(tb testing.TB, h *Hub, topic herald.Topic, n int) []*Conn {
	tb.Helper()
	conns := make([]*Conn, n)
	for i := range conns {
		c := h.Open(context.Background(), Request{Topics: []herald.Topic{topic}})
		if !c.awaitTopics(closedChan, nil) {
			tb.Fatal("topic not ready")
		}
		c.stream = &discardStream{}
		c.gw = &goWriter{}
		c.st = nil
		c.open = 1
		t := c.tops[0]
		t.lock()
		c.pos[0] = herald.Position{Epoch: t.epoch, Seq: t.last}
		t.addSubLocked(&c.subs[0])
		t.unlock()
		conns[i] = c
	}
	return conns
}

func benchHub(tb testing.TB) *Hub {
	eng := memory.New(memory.Options{})
	h := New(Options{Engine: eng, MaxQueueBytes: 1 << 30})
	if err := h.Start(context.Background()); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { h.Close(); eng.Close() })
	return h
}

var benchData = []byte(`{"raffle":"spring","entries":18234,"odds":{"you":0.0000548,"top":0.0121},"sentTime":1763780000000}`)

// BenchmarkEncode measures encoding one event's SSE frame (done once per event, shared by
// every subscriber). Measured on the 2-core dev box: ~150 ns/op, 2 allocs/op (frame + bytes).
func BenchmarkEncode(b *testing.B) {
	ev := herald.Event{Topic: "raffle:spring", Position: herald.Position{Epoch: "k2x9q7ab", Seq: 123456},
		Prev: 123455, Name: "odds", Data: benchData, Time: time.Now().UnixNano()}
	b.ReportAllocs()
	b.SetBytes(int64(len(benchData)))
	for b.Loop() {
		f := newEventFrame(&ev)
		if len(f.buf) == 0 {
			b.Fatal("empty frame")
		}
	}
}

// chainedEvent returns an event of c's (first) topic and a function that moves it to the
// next position of the node's chain, so that every Deliver of it is fanned out.
func chainedEvent(c *Conn) (*herald.Event, func()) {
	t := c.tops[0]
	t.lock()
	epoch, seq := t.epoch, t.last
	t.unlock()
	if epoch == "" {
		epoch = "bench"
	}
	ev := &herald.Event{Topic: t.name, Name: "odds", Data: benchData}
	return ev, func() {
		seq++
		ev.Position = herald.Position{Epoch: epoch, Seq: seq}
		ev.Prev = seq - 1
		ev.Time = time.Now().UnixNano()
	}
}

// BenchmarkFanout10k measures one event delivered to 10,000 subscribers of one topic on this
// node: the engine hands it to the hub, the hub encodes it once and queues the shared frame
// on every connection, and each connection's writer copies it into its write buffer and
// writes (to a discarding stream: socket costs are the kernel's, see docs/performance.md).
// allocs/op counts the whole fan-out, so 2 allocs/op means none per delivery.
func BenchmarkFanout10k(b *testing.B) {
	const n = 10000
	h := benchHub(b)
	topic := herald.Topic("bench:fanout")
	conns := liveConns(b, h, topic, n)
	ev, next := chainedEvent(conns[0])
	// Warm up queues and write buffers, as a long-running stream has them.
	deliver := func() {
		next()
		h.Deliver(ev)
		for _, c := range conns {
			if err := c.flush(); err != nil {
				b.Fatal(err)
			}
		}
	}
	deliver()
	deliver() // the second fills the writer's spare queue (take swaps two slices)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		deliver()
	}
	b.StopTimer()
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/n, "ns/delivery")
	if got := conns[n-1].evs; got != int64(b.N+2) {
		b.Fatalf("last connection got %d events, want %d", got, b.N+2)
	}
}

// BenchmarkEnqueue isolates the fan-out itself: queueing one shared frame on 10,000
// connections, without the writers.
func BenchmarkEnqueue10k(b *testing.B) {
	const n = 10000
	h := benchHub(b)
	conns := liveConns(b, h, "bench:enqueue", n)
	f := newEventFrame(&herald.Event{Topic: "bench:enqueue", Position: herald.Position{Epoch: "e", Seq: 1}, Data: benchData})
	for range 2 { // warm both of each connection's queue slices
		for _, c := range conns {
			c.enqueue(f, 0)
			clear(c.take())
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		for _, c := range conns {
			c.enqueue(f, 0)
		}
		for _, c := range conns {
			clear(c.take())
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/n, "ns/delivery")
}
