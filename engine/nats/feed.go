package natsengine

import (
	"hash/maphash"
	"runtime"

	"github.com/nats-io/nats.go"
)

// The live feed. Every subscribed topic is a core NATS subscription on its live subject,
// but the subscriptions share a few channels instead of each running its own goroutine:
// nats.go's reader hands each message to its topic's channel, and one dispatcher per
// channel runs Sink.Deliver. A topic always maps to the same
// channel, so its events keep their order. With 10,000 subscribed topics this saves 10,000
// goroutines (their stacks, which the garbage collector scans every cycle, and a wake-up per
// message).
//
// A full channel makes nats.go drop the message and report a slow consumer; the engine then
// resyncs the sink, which rereads history, as after a disconnect. Nothing is lost, only late.
const (
	// feedCap is the capacity of each feed channel, in messages.
	feedCap = 16384
	// minFeeds is the least number of feed channels; there are GOMAXPROCS when more.
	minFeeds = 2
)

// feeds is the set of live-feed channels; Engine.live maps each subject to its topic.
type feeds struct {
	seed  maphash.Seed
	chans []chan *nats.Msg
}

func newFeeds() *feeds {
	n := max(minFeeds, runtime.GOMAXPROCS(0))
	f := &feeds{seed: maphash.MakeSeed(), chans: make([]chan *nats.Msg, n)}
	for i := range f.chans {
		f.chans[i] = make(chan *nats.Msg, feedCap)
	}
	return f
}

// chanFor returns the channel that carries subject's messages.
func (f *feeds) chanFor(subject string) chan *nats.Msg {
	return f.chans[maphash.String(f.seed, subject)%uint64(len(f.chans))]
}

// startFeeds starts one dispatcher per feed channel; they end when the engine stops.
func (e *Engine) startFeeds() {
	for _, ch := range e.feeds.chans {
		e.done.Add(1)
		go e.dispatch(ch)
	}
}

// dispatch delivers the messages of one feed channel to their topics.
func (e *Engine) dispatch(ch chan *nats.Msg) {
	defer e.done.Done()
	for {
		select {
		case <-e.stop:
			return
		case m := <-ch:
			if v, ok := e.live.Load(m.Subject); ok {
				e.deliver(v.(*liveTopic), m)
			}
			// else: the topic was unsubscribed after its message was queued.
		}
	}
}
