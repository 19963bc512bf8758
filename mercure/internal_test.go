package mercure

import (
	"context"
	"fmt"
	"log/slog"
	"testing"

	"github.com/heraldpush/herald"
	"github.com/heraldpush/herald/engine/memory"
)

// TestSlowConsumerIsCutOff: a queue over its byte bound closes the subscriber and drops its
// queue (bounded memory); later frames are ignored.
func TestSlowConsumerIsCutOff(t *testing.T) {
	s := newSubscriber(100)
	frame := make([]byte, 40)
	s.enqueue(queued{seq: 1, buf: frame})
	s.enqueue(queued{seq: 2, buf: frame})
	if s.finalReason() != reasonNone || s.qbytes != 80 {
		t.Fatalf("under the bound: reason %q, %d bytes", s.finalReason(), s.qbytes)
	}
	s.enqueue(queued{seq: 3, buf: frame})
	if s.finalReason() != reasonSlowConsumer || s.q != nil || s.qbytes != 0 {
		t.Fatalf("over the bound: reason %q, queue %d, %d bytes", s.finalReason(), len(s.q), s.qbytes)
	}
	select {
	case <-s.done:
	default:
		t.Fatal("done not closed")
	}
	s.enqueue(queued{seq: 4, buf: frame})
	if len(s.q) != 0 {
		t.Fatal("a closed subscriber queued a frame")
	}
}

// TestIndexAddRemove: every map the index keeps is emptied when its subscribers leave, and
// each matches exactly what it should meanwhile.
func TestIndexAddRemove(t *testing.T) {
	cache := newSelectorCache(100)
	x := newIndex()
	mk := func(sels ...string) *subscriber {
		s := newSubscriber(1 << 20)
		for _, sel := range sels {
			s.sels = append(s.sels, cache.get(sel))
		}
		return s
	}
	a := mk("https://example.com/books/1", "https://example.com/books/{id}")
	b := mk("https://example.com/books/{id}")
	c := mk("*")
	d := mk("https://example.com/users/{u}/books/{b}", "https://example.com/users/{u}/books/{b}")
	for _, s := range []*subscriber{a, b, c, d} {
		x.add(s)
	}
	var seq uint64 // each dispatch has its own mark
	matched := func(topics ...string) map[*subscriber]int {
		got := map[*subscriber]int{}
		seq++
		x.each(topics, seq, func(s *subscriber) { got[s]++ })
		return got
	}
	cases := []struct {
		topics []string
		want   []*subscriber
	}{
		{[]string{"https://example.com/books/1"}, []*subscriber{a, b, c}},
		{[]string{"https://example.com/books/2"}, []*subscriber{a, b, c}},
		{[]string{"https://example.com/users/1/books/2"}, []*subscriber{c, d}},
		{[]string{"https://example.com/books/1", "https://example.com/users/1/books/2"}, []*subscriber{a, b, c, d}},
		{[]string{"other"}, []*subscriber{c}},
	}
	for i, tc := range cases {
		got := matched(tc.topics...)
		if len(got) != len(tc.want) {
			t.Fatalf("case %d: %d subscribers matched, want %d", i, len(got), len(tc.want))
		}
		for _, s := range tc.want {
			if got[s] != 1 {
				t.Fatalf("case %d: a subscriber matched %d times, want once", i, got[s])
			}
		}
	}
	for _, s := range []*subscriber{a, b, c, d} {
		x.remove(s)
	}
	if x.n != 0 || len(x.exact) != 0 || len(x.all) != 0 || len(x.byPrefix) != 0 || len(x.lens) != 0 {
		t.Fatalf("index not empty after every subscriber left: %+v", x)
	}
}

// TestIDMapBounded: the id map keeps as many ids as the log keeps events, oldest out first,
// and start-up ids go under live ones.
func TestIDMapBounded(t *testing.T) {
	m := newIDMap(3)
	for i := 1; i <= 5; i++ {
		m.add(fmt.Sprint("id", i), uint64(i))
	}
	if len(m.m) != 3 || m.m["id3"] != 3 || m.m["id5"] != 5 {
		t.Fatalf("map %v", m.m)
	}
	if _, ok := m.m["id2"]; ok {
		t.Fatal("id2 kept beyond the bound")
	}
	m = newIDMap(4)
	m.add("live", 10)
	m.prepend([]idEntry{{"old1", 1}, {"old2", 2}, {"live", 3}})
	if m.m["live"] != 10 || m.m["old1"] != 1 || len(m.fifo) != 3 {
		t.Fatalf("prepend: map %v fifo %v", m.m, m.fifo)
	}
}

// TestLookupAheadOfNode: an id this node has not seen yet (a client coming from a node that
// is ahead) is found among the log events after the node's position.
func TestLookupAheadOfNode(t *testing.T) {
	eng := memory.New(memory.Options{})
	defer eng.Close()
	ctx := context.Background()
	if err := eng.Start(ctx, nopSink{}); err != nil {
		t.Fatal(err)
	}
	h := &Hub{engine: eng, ids: newIDMap(10), log: slog.New(slog.DiscardHandler)}
	pub := func(id string) herald.Event {
		u := &update{Topics: []string{"t"}, ID: id, Data: "d"}
		evs, err := eng.Publish(ctx, []herald.Message{{Topic: LogTopic, Data: u.encode()}})
		if err != nil {
			t.Fatal(err)
		}
		return evs[0]
	}
	first := pub("seen")
	h.epoch, h.head = first.Epoch, first.Seq
	h.ids.add("seen", first.Seq)
	ahead := pub("ahead")
	cases := []struct {
		id   string
		pos  herald.Position
		want bool
	}{
		{"seen", first.Position, true},
		{"ahead", ahead.Position, true},
		{"earliest", herald.Position{Epoch: first.Epoch}, true},
		{"never", herald.Position{}, false},
	}
	for _, c := range cases {
		pos, ok := h.lookup(ctx, c.id)
		if ok != c.want || (ok && pos != c.pos) {
			t.Errorf("lookup(%q) = %v %v, want %v %v", c.id, pos, ok, c.pos, c.want)
		}
	}
}

type nopSink struct{}

func (nopSink) Deliver(*herald.Event) {}
func (nopSink) Resync()               {}
