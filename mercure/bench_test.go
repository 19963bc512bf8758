package mercure

import (
	"strconv"
	"testing"
)

// benchHub is a hub with n subscribers indexed, for dispatch benchmarks (no sockets: what is
// measured is finding the subscribers, encoding the frame once and queueing it).
func benchHub(b *testing.B, n int, selectorOf func(i int) string) (*Hub, []*subscriber) {
	h := &Hub{idx: newIndex(), subs: map[*subscriber]struct{}{}, cache: newSelectorCache(2 * n)}
	subs := make([]*subscriber, n)
	for i := range subs {
		s := newSubscriber(1 << 30)
		s.sels = []*selector{h.cache.get(selectorOf(i))}
		h.idx.add(s)
		h.subs[s] = struct{}{}
		subs[i] = s
	}
	return h, subs
}

// drain empties the queues a dispatch filled, so queues stay small across iterations.
func drain(subs []*subscriber) {
	for _, s := range subs {
		if len(s.q) > 0 {
			s.q, s.qbytes = s.q[:0], 0
			select {
			case <-s.wake:
			default:
			}
		}
	}
}

// BenchmarkDispatch10k measures one publish on a node with 10,000 subscribers:
//
//   - exact-broadcast / template-broadcast: all 10,000 select the update (by the same exact
//     topic, or by the same URI template): 10,000 deliveries;
//   - exact-unicast / template-unicast: each subscriber has its own topic (exact, or its own
//     template with its own literal prefix), the update is for one of them: 1 delivery;
//   - scan-unicast: the same template-unicast work done by matching every subscriber's
//     selector, as a hub without an index does (the reference hub's per-subscriber match).
//
// Run: go test -run '^$' -bench BenchmarkDispatch10k -benchmem ./mercure/
func BenchmarkDispatch10k(b *testing.B) {
	const n = 10000
	data := `{"@id":"/books/1","title":"A book"}`
	cases := []struct {
		name  string
		sel   func(i int) string
		topic string
	}{
		{"exact-broadcast", func(int) string { return "https://example.com/books/1" }, "https://example.com/books/1"},
		{"template-broadcast", func(int) string { return "https://example.com/books/{id}" }, "https://example.com/books/1"},
		{"exact-unicast", func(i int) string { return "https://example.com/users/" + strconv.Itoa(i) }, "https://example.com/users/4242"},
		{"template-unicast", func(i int) string { return "https://example.com/users/" + strconv.Itoa(i) + "/books/{id}" }, "https://example.com/users/4242/books/1"},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			h, subs := benchHub(b, n, c.sel)
			// The subscribers the update reaches, to empty only their queues.
			h.dispatchLocked(&update{Topics: []string{c.topic}, ID: "urn:uuid:x", Data: data}, 1)
			var targets []*subscriber
			for _, s := range subs {
				if len(s.q) > 0 {
					targets = append(targets, s)
				}
			}
			drain(targets)
			b.ReportAllocs()
			for b.Loop() {
				u := &update{Topics: []string{c.topic}, ID: "urn:uuid:x", Data: data}
				h.dispatchLocked(u, 1)
				drain(targets)
			}
			b.ReportMetric(float64(len(targets)), "deliveries/op")
		})
	}
	b.Run("scan-unicast", func(b *testing.B) {
		_, subs := benchHub(b, n, cases[3].sel)
		topic := cases[3].topic
		target := subs[4242:4243]
		b.ReportAllocs()
		for b.Loop() {
			u := &update{Topics: []string{topic}, ID: "urn:uuid:x", Data: data}
			var frame []byte
			for _, s := range subs {
				if s.matches(u) {
					if frame == nil {
						frame = u.frame()
					}
					s.enqueue(queued{seq: 1, buf: frame})
				}
			}
			drain(target)
		}
	})
}
