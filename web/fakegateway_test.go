package web_test

import (
	"context"
	"sync"

	"github.com/heraldpush/herald"
)

// fakeGateway is an in-memory publisher for the handler tests: dense per-topic sequences,
// "<epoch>-<seq>" ids, and final events that close their topic, like the real engines.
type fakeGateway struct {
	mu     sync.Mutex
	topics map[herald.Topic]*fakeTopic
}

type fakeTopic struct {
	events []herald.Event
}

const fakeEpoch = "fake"

func newFakeGateway() *fakeGateway {
	return &fakeGateway{topics: make(map[herald.Topic]*fakeTopic)}
}

func (g *fakeGateway) topicLocked(t herald.Topic) *fakeTopic {
	ft := g.topics[t]
	if ft == nil {
		ft = &fakeTopic{}
		g.topics[t] = ft
	}
	return ft
}

// Publish has the signature of herald.Engine.Publish.
func (g *fakeGateway) Publish(ctx context.Context, msgs []herald.Message) ([]herald.Event, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	out := make([]herald.Event, 0, len(msgs))
	for _, m := range msgs {
		ft := g.topicLocked(m.Topic)
		if n := len(ft.events); n > 0 && ft.events[n-1].Final {
			return out, &herald.PublishError{Published: len(out), Err: herald.ErrTopicClosed}
		}
		seq := uint64(len(ft.events) + 1)
		ev := herald.Event{Topic: m.Topic, Position: herald.Position{Epoch: fakeEpoch, Seq: seq}, Prev: seq - 1,
			Name: m.Name, Data: append([]byte(nil), m.Data...), Final: m.Final}
		ft.events = append(ft.events, ev)
		out = append(out, ev)
	}
	return out, nil
}
