package enginetest

import (
	"testing"

	"github.com/heraldpush/herald"
)

// BenchHistory measures what a resuming client costs an engine: reading the 100 events
// after its cursor in a topic that holds 1,000. It reports events read per second.
func BenchHistory(b *testing.B, e herald.Engine) {
	ctx := b.Context()
	const topic herald.Topic = "bench:history"
	m := make([]herald.Message, 100)
	for i := range m {
		m[i] = herald.Message{Topic: topic, Name: "progress", Data: []byte(`{"step":"vision","progress":40}`)}
	}
	var evs []herald.Event
	for range 10 {
		got, err := e.Publish(ctx, m)
		if err != nil {
			b.Fatal(err)
		}
		evs = append(evs, got...)
	}
	after := evs[len(evs)-101].Seq
	b.ReportAllocs()
	for b.Loop() {
		h, err := e.History(ctx, topic, after, 100)
		if err != nil || len(h.Events) != 100 {
			b.Fatalf("%d events, %v", len(h.Events), err)
		}
	}
	b.ReportMetric(float64(100*b.N)/b.Elapsed().Seconds(), "events/s")
}
