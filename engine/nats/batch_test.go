package natsengine

import (
	"errors"
	"strings"
	"testing"

	"github.com/heraldpush/herald"
	"github.com/heraldpush/herald/engine/enginetest"
	"github.com/heraldpush/herald/internal/testserver"
)

func msg(topic string, data string) herald.Message {
	return herald.Message{Topic: herald.Topic(topic), Data: []byte(data)}
}

// checkChain checks that evs are the batch's events in input order and that each topic's
// events form a Prev chain with increasing sequences.
func checkChain(t *testing.T, msgs []herald.Message, evs []herald.Event) {
	t.Helper()
	last := map[herald.Topic]uint64{}
	for i, ev := range evs {
		if ev.Topic != msgs[i].Topic || string(ev.Data) != string(msgs[i].Data) {
			t.Fatalf("event %d is %s %q, want %s %q", i, ev.Topic, ev.Data, msgs[i].Topic, msgs[i].Data)
		}
		if p, ok := last[ev.Topic]; ok && ev.Prev != p {
			t.Fatalf("event %d of %s: Prev %d, want %d", i, ev.Topic, ev.Prev, p)
		}
		if ev.Seq <= ev.Prev {
			t.Fatalf("event %d of %s: Seq %d after Prev %d", i, ev.Topic, ev.Seq, ev.Prev)
		}
		last[ev.Topic] = ev.Seq
	}
}

// TestBatchPipeline: interleaved topics in one batch keep input order and per-topic chains,
// on a warm and on a stale head cache (another node appended in between: the stale topics
// fall back to reread-and-retry).
func TestBatchPipeline(t *testing.T) {
	srv := testserver.NATS(t)
	a, b := newEngine(t, srv.URL(), nil), newEngine(t, srv.URL(), nil)
	ctx := t.Context()
	msgs := []herald.Message{msg("p:a", "a1"), msg("p:b", "b1"), msg("p:a", "a2"), msg("p:c", "c1"), msg("p:b", "b2"), msg("p:a", "a3")}
	evs, err := a.Publish(ctx, msgs)
	if err != nil {
		t.Fatal(err)
	}
	checkChain(t, msgs, evs)
	// Node b appends to p:a and p:c: a's cached heads of those are stale now.
	if _, err := b.Publish(ctx, []herald.Message{msg("p:a", "a-b"), msg("p:c", "c-b")}); err != nil {
		t.Fatal(err)
	}
	msgs2 := []herald.Message{msg("p:c", "c2"), msg("p:a", "a4"), msg("p:b", "b3"), msg("p:a", "a5")}
	evs2, err := a.Publish(ctx, msgs2)
	if err != nil {
		t.Fatal(err)
	}
	checkChain(t, msgs2, evs2)
	for topic, want := range map[string]string{
		"p:a": "a1 a2 a3 a-b a4 a5",
		"p:b": "b1 b2 b3",
		"p:c": "c1 c-b c2",
	} {
		if got := strings.Join(enginetest.HistoryData(t, a, herald.Topic(topic)), " "); got != want {
			t.Errorf("history of %s = %q, want %q", topic, got, want)
		}
	}
}

// TestBatchPartial: what a failing batch reports and stores.
func TestBatchPartial(t *testing.T) {
	srv := testserver.NATS(t)
	a, b := newEngine(t, srv.URL(), nil), newEngine(t, srv.URL(), nil)
	ctx := t.Context()
	publishErr := func(err error, published int, cause error) {
		t.Helper()
		var pe *herald.PublishError
		if !errors.As(err, &pe) || pe.Published != published || !errors.Is(err, cause) {
			t.Fatalf("err = %v, want a PublishError with Published %d wrapping %v", err, published, cause)
		}
	}

	// Decided before sending: a final event followed by more of its topic fails there,
	// and nothing after it is sent.
	fin := msg("x:a", "a1")
	fin.Final = true
	evs, err := a.Publish(ctx, []herald.Message{msg("x:b", "b1"), fin, msg("x:c", "c1"), msg("x:a", "a2"), msg("x:d", "d1")})
	publishErr(err, 3, herald.ErrTopicClosed)
	if len(evs) != 3 {
		t.Fatalf("%d events, want 3", len(evs))
	}
	if got := enginetest.HistoryData(t, a, herald.Topic("x:d")); len(got) != 0 {
		t.Errorf("x:d after the failure was stored: %q", got)
	}

	// An oversized message fails before anything after it is sent, even when it waits
	// for an earlier message of its topic.
	big := msg("y:a", strings.Repeat("z", int(a.nc.MaxPayload())))
	_, err = a.Publish(ctx, []herald.Message{msg("y:a", "a1"), big, msg("y:b", "b1")})
	var pe *herald.PublishError
	if !errors.As(err, &pe) || pe.Published != 1 || errors.Is(err, herald.ErrEngineUnavailable) {
		t.Fatalf("err = %v, want a PublishError with Published 1, not unavailable", err)
	}
	if got := enginetest.HistoryData(t, a, herald.Topic("y:b")); len(got) != 0 {
		t.Errorf("y:b after the oversized message was stored: %q", got)
	}

	// A topic closed by another node while a's cache says open: JetStream refuses a's
	// send, the reread finds the final event. Messages of other topics already in flight
	// with it are stored although the batch reports only the prefix before it (the
	// documented case; a DedupKey makes the caller's retry answer them instead).
	if _, err := a.Publish(ctx, []herald.Message{msg("z:a", "a1")}); err != nil {
		t.Fatal(err)
	}
	fin = msg("z:a", "a-final")
	fin.Final = true
	if _, err := b.Publish(ctx, []herald.Message{fin}); err != nil {
		t.Fatal(err)
	}
	evs, err = a.Publish(ctx, []herald.Message{msg("z:b", "b1"), msg("z:a", "a2"), msg("z:c", "c1")})
	publishErr(err, 1, herald.ErrTopicClosed)
	if len(evs) != 1 || string(evs[0].Data) != "b1" {
		t.Fatalf("events %v, want b1 only", evs)
	}
	if got := enginetest.HistoryData(t, a, herald.Topic("z:c")); len(got) != 1 {
		t.Errorf("z:c, in flight with the refused z:a, has %q stored, want c1", got)
	}
	// Once the cache knows, nothing after the closed topic is sent.
	_, err = a.Publish(ctx, []herald.Message{msg("z:d", "d1"), msg("z:a", "a3"), msg("z:e", "e1")})
	publishErr(err, 1, herald.ErrTopicClosed)
	if got := enginetest.HistoryData(t, a, herald.Topic("z:e")); len(got) != 0 {
		t.Errorf("z:e after a topic known to be closed was stored: %q", got)
	}
}

// TestBatchDedup: a duplicate in a pipelined batch answers the stored event.
func TestBatchDedup(t *testing.T) {
	srv := testserver.NATS(t)
	a := newEngine(t, srv.URL(), nil)
	ctx := t.Context()
	m := msg("d:a", "a1")
	m.DedupKey = "k1"
	first, err := a.Publish(ctx, []herald.Message{m, msg("d:b", "b1")})
	if err != nil {
		t.Fatal(err)
	}
	again, err := a.Publish(ctx, []herald.Message{msg("d:b", "b2"), m, msg("d:a", "a2")})
	if err != nil {
		t.Fatal(err)
	}
	if again[1].Position != first[0].Position {
		t.Errorf("duplicate answered %v, want the stored %v", again[1].Position, first[0].Position)
	}
	checkChain(t, []herald.Message{msg("d:b", "b2"), msg("d:a", "a1"), msg("d:a", "a2")}, again)
	if got := strings.Join(enginetest.HistoryData(t, a, herald.Topic("d:a")), " "); got != "a1 a2" {
		t.Errorf("history of d:a = %q, want \"a1 a2\"", got)
	}
}
