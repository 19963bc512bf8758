package enginetest

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"testing"

	"github.com/heraldpush/herald"
)

// testSequence: Seqs strictly increase per topic, Prev chains them from 0, the epoch stays,
// Time is set, and topics are independent.
func (s *suite) testSequence(t *testing.T) {
	n := s.node(t, nil)
	a, b := s.newTopic("seq-a"), s.newTopic("seq-b")
	evs := publishN(t, n, a, 5)
	checkChain(t, evs, 0)
	for i, ev := range evs {
		if ev.Time <= 0 {
			t.Errorf("event %d: Time = %d, want set", i, ev.Time)
		}
	}
	if first := publish(t, n, msg(b, "", "x"))[0]; first.Prev != 0 {
		t.Errorf("first event of another topic: Prev = %d, want 0 (topics share no sequence)", first.Prev)
	}
	more := publishN(t, n, a, 2)
	checkChain(t, more, evs[len(evs)-1].Seq)
	if more[0].Epoch != evs[0].Epoch {
		t.Errorf("epoch changed from %q to %q between publishes", evs[0].Epoch, more[0].Epoch)
	}
	ev := publish(t, n, herald.Message{Topic: a, Name: "timed", Data: []byte("t"), SentTime: 1234567890})[0]
	if ev.SentTime != 1234567890 {
		t.Errorf("SentTime = %d, want it kept", ev.SentTime)
	}
}

// testBatch: one Publish across several topics returns the events in message order, each
// topic's chain intact.
func (s *suite) testBatch(t *testing.T) {
	n := s.node(t, nil)
	a, b, c := s.newTopic("batch-a"), s.newTopic("batch-b"), s.newTopic("batch-c")
	msgs := []herald.Message{msg(a, "1", "a1"), msg(b, "1", "b1"), msg(a, "2", "a2"), msg(c, "1", "c1"), msg(b, "2", "b2"), msg(a, "3", "a3")}
	evs := publish(t, n, msgs...) // checks order against msgs
	byTopic := map[herald.Topic][]herald.Event{}
	for _, ev := range evs {
		byTopic[ev.Topic] = append(byTopic[ev.Topic], ev)
	}
	for topic, tevs := range byTopic {
		checkChain(t, tevs, 0)
		sameEvents(t, "history of "+string(topic), history(t, n, topic, 0, 100).Events, tevs)
	}
	if got := publish(t, n); len(got) != 0 {
		t.Errorf("empty Publish returned %d events", len(got))
	}
}

// testFinal: a final event is kept and closes its topic; later publishes fail with
// ErrTopicClosed in a PublishError that counts the batch's published prefix.
func (s *suite) testFinal(t *testing.T) {
	n := s.node(t, nil)
	task, other := s.newTopic("final-task"), s.newTopic("final-other")
	evs := publishN(t, n, task, 2)
	fin := publish(t, n, herald.Message{Topic: task, Name: "done", Data: []byte(`{"ok":true}`), Final: true})[0]
	evs = append(evs, fin)
	checkChain(t, evs, 0)

	h := history(t, n, task, 0, 100)
	sameEvents(t, "history", h.Events, evs)
	if !h.Events[2].Final || !h.State.Closed || h.State.Last != fin.Seq {
		t.Fatalf("state after final = %+v (final flag %v), want Closed with Last %d", h.State, h.Events[2].Final, fin.Seq)
	}

	_, err := n.Publish(t.Context(), []herald.Message{msg(task, "late", "x")})
	checkClosedErr(t, err, 0)

	// A batch: one message to another topic, then the closed one, then another.
	got, err := n.Publish(t.Context(), []herald.Message{msg(other, "", "before"), msg(task, "", "late"), msg(other, "", "after")})
	checkClosedErr(t, err, 1)
	if len(got) > 1 {
		t.Errorf("failed batch returned %d events, want at most the 1 published", len(got))
	}
	oh := history(t, n, other, 0, 100)
	if len(oh.Events) != 1 || string(oh.Events[0].Data) != "before" {
		t.Errorf("history of the other topic = %v, want only the message before the failure", ids(oh.Events))
	}
	if h2 := history(t, n, task, 0, 100); len(h2.Events) != 3 || h2.State.Last != fin.Seq {
		t.Errorf("closed topic changed: %v, state %+v", ids(h2.Events), h2.State)
	}

	// A final inside a batch closes the topic for the rest of the batch.
	task2 := s.newTopic("final-batch")
	_, err = n.Publish(t.Context(), []herald.Message{msg(task2, "", "a"), {Topic: task2, Final: true}, msg(task2, "", "b")})
	checkClosedErr(t, err, 2)
}

// checkClosedErr checks that err is a *herald.PublishError wrapping ErrTopicClosed after
// published messages.
func checkClosedErr(t *testing.T, err error, published int) {
	t.Helper()
	if !errors.Is(err, herald.ErrTopicClosed) {
		t.Fatalf("publish to a closed topic: err = %v, want ErrTopicClosed", err)
	}
	var pe *herald.PublishError
	if !errors.As(err, &pe) {
		t.Fatalf("publish to a closed topic: err = %T %v, want a *herald.PublishError", err, err)
	}
	if pe.Published != published {
		t.Fatalf("PublishError.Published = %d, want %d", pe.Published, published)
	}
}

// testDedup: a repeated DedupKey in a topic returns the first event, appends nothing and
// delivers nothing; other keys and other topics are independent. On a shared store the
// key holds across nodes (bridges rely on it).
func (s *suite) testDedup(t *testing.T) {
	n := s.node(t, nil)
	topic, other := s.newTopic("dedup"), s.newTopic("dedup-other")
	if err := n.Subscribe(t.Context(), topic); err != nil {
		t.Fatal(err)
	}
	keyed := func(tp herald.Topic, key, data string) herald.Message {
		m := msg(tp, "d", data)
		m.DedupKey = key
		return m
	}
	first, err := n.Publish(t.Context(), []herald.Message{keyed(topic, "k1", "one")})
	if err != nil {
		t.Fatal(err)
	}
	again, err := n.Publish(t.Context(), []herald.Message{keyed(topic, "k1", "one again")})
	if err != nil {
		t.Fatal(err)
	}
	sameEvents(t, "repeated key", again, first)
	batch, err := n.Publish(t.Context(), []herald.Message{keyed(topic, "k2", "two"), keyed(topic, "k2", "two again"), keyed(topic, "k1", "x")})
	if err != nil {
		t.Fatal(err)
	}
	sameEvents(t, "repeated key in a batch", batch[1:2], batch[0:1])
	sameEvents(t, "earlier key in a batch", batch[2:3], first)
	if o := publish(t, n, keyed(other, "k1", "other topic"))[0]; o.Prev != 0 || string(o.Data) != "other topic" {
		t.Errorf("same key in another topic = %+v, want a new first event", o)
	}
	want := []herald.Event{first[0], batch[0]}
	checkChain(t, want, 0)
	sameEvents(t, "history", history(t, n, topic, 0, 100).Events, want)
	marker := publish(t, n, msg(topic, "marker", ""))[0]
	sameEvents(t, "delivered", n.rec.Wait(t, topic, 3, s.f.Timeout), append(want, marker))

	if !s.f.MultiNode {
		return
	}
	m := s.node(t, nil)
	fromB, err := m.Publish(t.Context(), []herald.Message{keyed(topic, "k1", "from node B")})
	if err != nil {
		t.Fatal(err)
	}
	sameEvents(t, "repeated key on another node", fromB, first)
}

// testDataIntegrity: arbitrary bytes and names round-trip through history and the live
// feed, and the engine keeps its own copy of Data.
func (s *suite) testDataIntegrity(t *testing.T) {
	n := s.node(t, nil)
	topic := s.newTopic("data")
	if err := n.Subscribe(t.Context(), topic); err != nil {
		t.Fatal(err)
	}
	big := make([]byte, 64<<10)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range big {
		big[i] = byte(r.Uint32())
	}
	payloads := []struct {
		name, data string
	}{
		{"", ""},
		{"lines", "one\ntwo\r\nthree\rfour\n\n"},
		{"fake-frame", "data: x\n\nid: 9\nevent: reset\n\n"},
		{"nul", "a\x00b\x00\x00"},
		{"binary", "\xff\xfe\x80\x00\x7f"},
		{"名前", "héllo, 世界 🚀"},
		{"  spaced name  ", "names keep their spaces"},
		{"\ttab;semi; ", "and tabs and semicolons"},
		{"json", `{"progress":42,"step":"vision","nested":{"a":[1,2,3]}}`},
		{"big", string(big)},
	}
	var want []herald.Event
	buf := make([]byte, 0, len(big))
	for _, p := range payloads {
		buf = append(buf[:0], p.data...)
		ev := publish(t, n, herald.Message{Topic: topic, Name: herald.EventName(p.name), Data: buf})[0]
		for i := range buf { // the caller reuses its buffer
			buf[i] = '#'
		}
		if !bytes.Equal(ev.Data, []byte(p.data)) {
			t.Fatalf("%s: returned event's data changed when the caller reused its buffer", p.name)
		}
		want = append(want, ev)
	}
	sameEvents(t, "history", history(t, n, topic, 0, 100).Events, want)
	sameEvents(t, "delivered", n.rec.Wait(t, topic, len(want), s.f.Timeout), want)
}

// testClosed: after Close, operations fail with ErrClosed.
func (s *suite) testClosed(t *testing.T) {
	e := s.f.New(t, keep(10, 0))
	if err := e.Start(t.Context(), NewRecorder()); err != nil {
		t.Fatal(err)
	}
	if err := e.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	topic := s.newTopic("closed")
	if _, err := e.Publish(t.Context(), []herald.Message{msg(topic, "", "x")}); !errors.Is(err, herald.ErrClosed) {
		t.Errorf("Publish after Close: err = %v, want ErrClosed", err)
	}
	if _, err := e.History(t.Context(), topic, 0, 10); !errors.Is(err, herald.ErrClosed) {
		t.Errorf("History after Close: err = %v, want ErrClosed", err)
	}
	if err := e.Subscribe(t.Context(), topic); !errors.Is(err, herald.ErrClosed) {
		t.Errorf("Subscribe after Close: err = %v, want ErrClosed", err)
	}
}
