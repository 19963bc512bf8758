package enginetest

import (
	"fmt"
	"sync"
	"testing"

	"github.com/heraldpush/herald"
)

// Concurrency test shape: publishers × rounds events into one hot topic, and the same
// number of batches of batchLen messages spread over spread topics. Small enough for a
// loaded CI machine and a networked store, large enough for -race to see the interleavings.
const (
	publishers = 8
	rounds     = 40
	batchLen   = 4
	spread     = 16
)

// testConcurrency: concurrent publishers to one topic and to many (from every node when the
// store is shared) leave each topic one complete chain without duplicates, and every
// subscribed sink saw each topic's events exactly once, in history's order.
func (s *suite) testConcurrency(t *testing.T) {
	nodes := []*node{s.node(t, nil)}
	if s.f.MultiNode {
		nodes = append(nodes, s.node(t, nil))
	}
	hot := s.newTopic("hot")
	topics := []herald.Topic{hot}
	for i := range spread {
		topics = append(topics, s.newTopic(fmt.Sprintf("many%d", i)))
	}
	for _, n := range nodes {
		for _, tp := range topics {
			if err := n.Subscribe(t.Context(), tp); err != nil {
				t.Fatal(err)
			}
		}
	}

	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		sent = map[herald.Topic]map[string]bool{} // data of every published event per topic
		errs = make(chan error, publishers)
	)
	record := func(evs []herald.Event) {
		mu.Lock()
		defer mu.Unlock()
		for _, ev := range evs {
			if sent[ev.Topic] == nil {
				sent[ev.Topic] = map[string]bool{}
			}
			sent[ev.Topic][string(ev.Data)] = true
		}
	}
	for g := range publishers {
		n := nodes[g%len(nodes)]
		wg.Go(func() {
			for i := range rounds {
				evs, err := n.Publish(t.Context(), []herald.Message{msg(hot, "hot", fmt.Sprintf("g%d-i%d", g, i))})
				if err != nil {
					errs <- err
					return
				}
				record(evs)
				batch := make([]herald.Message, batchLen)
				for k := range batch {
					batch[k] = msg(topics[1+(g+i+k)%spread], "many", fmt.Sprintf("g%d-i%d-k%d", g, i, k))
				}
				if evs, err = n.Publish(t.Context(), batch); err != nil {
					errs <- err
					return
				}
				record(evs)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("concurrent Publish: %v", err)
	}

	total := 0
	for _, tp := range topics {
		h := history(t, nodes[0], tp, 0, publishers*rounds*batchLen+1)
		checkChain(t, h.Events, 0)
		seen := map[string]bool{}
		for _, ev := range h.Events {
			if seen[string(ev.Data)] {
				t.Fatalf("topic %q: %q stored twice", tp, ev.Data)
			}
			seen[string(ev.Data)] = true
		}
		if len(seen) != len(sent[tp]) {
			t.Fatalf("topic %q: history holds %d events, %d were published", tp, len(seen), len(sent[tp]))
		}
		for _, n := range nodes {
			sameEvents(t, "delivered for "+string(tp), n.rec.Wait(t, tp, len(h.Events), s.f.Timeout), h.Events)
		}
		total += len(h.Events)
	}
	if want := publishers * rounds * (1 + batchLen); total != want {
		t.Errorf("%d events in history, want %d", total, want)
	}
}
