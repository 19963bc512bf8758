package natsengine

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldpush/herald"
	"github.com/heraldpush/herald/engine/enginetest"
	"github.com/heraldpush/herald/internal/testserver"
	"github.com/nats-io/nats.go/jetstream"
)

// Benchmarks against a real nats-server 2.9.10 (Debian) on loopback, file storage. Figures
// are in doc.go.

// BenchmarkPublish: one publisher, one topic, one event per Publish (a JetStream round trip
// with the expected-sequence check).
func BenchmarkPublish(b *testing.B) {
	srv := testserver.NATS(b)
	e := newBenchEngine(b, srv.URL())
	msgs := []herald.Message{{Topic: "bench:pub", Name: "tick", Data: make([]byte, 128)}}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := e.Publish(b.Context(), msgs); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPublishParallel: GOMAXPROCS×4 publishers, each to its own topic.
func BenchmarkPublishParallel(b *testing.B) {
	srv := testserver.NATS(b)
	e := newBenchEngine(b, srv.URL())
	var n atomic.Int64
	b.ReportAllocs()
	b.SetParallelism(4)
	b.RunParallel(func(pb *testing.PB) {
		msgs := []herald.Message{{Topic: herald.Topic(fmt.Sprintf("bench:par%d", n.Add(1))), Data: make([]byte, 128)}}
		for pb.Next() {
			if _, err := e.Publish(context.Background(), msgs); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkPublishBatch10: one publisher, 10 events to 10 different topics per Publish (the
// shape of a batched POST /v1/publish in the unicast benchmark); ns/op is per batch.
func BenchmarkPublishBatch10(b *testing.B) {
	b.Run("file", func(b *testing.B) { benchBatch10(b, jetstream.FileStorage) })
	b.Run("memory", func(b *testing.B) { benchBatch10(b, jetstream.MemoryStorage) })
}

func benchBatch10(b *testing.B, storage jetstream.StorageType) {
	srv := testserver.NATS(b)
	e, err := New(b.Context(), Options{URL: srv.URL(), Storage: storage})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { e.Close() })
	msgs := make([]herald.Message, 10)
	for i := range msgs {
		msgs[i] = herald.Message{Topic: herald.Topic(fmt.Sprintf("bench:batch%d", i)), Name: "tick", Data: make([]byte, 128)}
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := e.Publish(b.Context(), msgs); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(msgs)), "ns/event")
}

// BenchmarkCrossNode: publish on engine A, wait until engine B's sink has the event
// (publish → store → republish → deliver); ns/op is the end-to-end latency.
func BenchmarkCrossNode(b *testing.B) {
	srv := testserver.NATS(b)
	a, bn := newBenchEngine(b, srv.URL()), newBenchEngine(b, srv.URL())
	sink := &chanSink{ch: make(chan uint64, 1)}
	if err := bn.Start(b.Context(), sink); err != nil {
		b.Fatal(err)
	}
	topic := herald.Topic("bench:cross")
	if err := bn.Subscribe(b.Context(), topic); err != nil {
		b.Fatal(err)
	}
	msgs := []herald.Message{{Topic: topic, Data: make([]byte, 128)}}
	b.ReportAllocs()
	for b.Loop() {
		evs, err := a.Publish(b.Context(), msgs)
		if err != nil {
			b.Fatal(err)
		}
		select {
		case seq := <-sink.ch:
			if seq != evs[0].Seq {
				b.Fatalf("delivered %d, published %d", seq, evs[0].Seq)
			}
		case <-time.After(5 * time.Second):
			b.Fatal("no delivery")
		}
	}
}

type chanSink struct{ ch chan uint64 }

func (s *chanSink) Deliver(ev *herald.Event) { s.ch <- ev.Seq }
func (s *chanSink) Resync()                  {}

func newBenchEngine(b *testing.B, url string) *Engine {
	b.Helper()
	e, err := New(b.Context(), Options{URL: url})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { e.Close() })
	return e
}

// BenchmarkHistory reads a resuming client's missed events: the 100 events after a cursor
// in a topic holding 1,000 (nats-server 2.9 has no batched direct get: one request per
// event, plus the topic's head and first message).
func BenchmarkHistory(b *testing.B) {
	srv := testserver.NATS(b)
	enginetest.BenchHistory(b, newEngine(b, srv.URL(), nil))
}

// BenchmarkTopicPresence reads a topic's presence on a node that holds none of its
// subscribers (what a publish there asks before it answers "online"): by-node is the read
// Herald makes, a direct get of each known node's key; watch is the fallback it replaced,
// an ephemeral KV watch per read. Two nodes share one nats-server.
func BenchmarkTopicPresence(b *testing.B) {
	srv := testserver.NATS(b)
	a, other := newEngine(b, srv.URL(), nil), newEngine(b, srv.URL(), nil)
	ctx := b.Context()
	const topic herald.Topic = "bench:presence"
	u := herald.PresenceUpdate{Topics: map[herald.Topic]map[string]int{topic: {"ann": 1}}}
	if err := other.Presence().UpdatePresence(ctx, "node-b", u, time.Minute); err != nil {
		b.Fatal(err)
	}
	store := a.Presence()
	deadline := time.Now().Add(5 * time.Second)
	for { // until the node watch is up and a read goes by node
		slow := a.presence.slowReads.Load()
		if _, err := store.TopicPresence(ctx, topic); err != nil || time.Now().After(deadline) {
			b.Fatalf("presence read: %v (still watching after 5s)", err)
		}
		if a.presence.slowReads.Load() == slow {
			break
		}
	}
	kv, err := a.presence.bucket(ctx, 0)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("by-node", func(b *testing.B) {
		slow := a.presence.slowReads.Load()
		for b.Loop() {
			if tp, err := store.TopicPresence(ctx, topic); err != nil || tp.Connections != 1 {
				b.Fatalf("%+v, %v", tp, err)
			}
		}
		if n := a.presence.slowReads.Load() - slow; n > 0 {
			b.Fatalf("%d reads fell back to a watch", n)
		}
	})
	b.Run("watch", func(b *testing.B) {
		for b.Loop() {
			if vals, err := watchValues(ctx, kv, "t."+b64(string(topic))+".*"); err != nil || len(vals) != 1 {
				b.Fatalf("%d values, %v", len(vals), err)
			}
		}
	})
}
