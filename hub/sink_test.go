package hub

import (
	"bytes"
	"context"
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/heraldpush/herald"
	"github.com/heraldpush/herald/engine/memory"
)

// fakeSink is a FrameSink that blocks when told to, like an HTTP/2 stream out of window.
type fakeSink struct {
	mu       sync.Mutex
	got      bytes.Buffer
	kept     []byte
	block    bool
	resume   func()
	gone     func()
	ends     int
	graceful bool
	slow     bool   // Send takes a while: closes land while the pool is inside it
	onSend   func() // called as Send starts, outside the sink's lock
}

func (s *fakeSink) Write(p []byte, _ time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.got.Write(p)
	return nil
}
func (s *fakeSink) Interrupt() {}
func (s *fakeSink) Attach(resume, gone func()) {
	s.mu.Lock()
	s.resume, s.gone = resume, gone
	s.mu.Unlock()
}
func (s *fakeSink) Send(p []byte) bool {
	if s.slow {
		time.Sleep(time.Millisecond)
	}
	if s.onSend != nil {
		s.onSend()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.block || len(s.kept) > 0 {
		s.kept = append(s.kept, p...)
		return false
	}
	s.got.Write(p)
	return true
}
func (s *fakeSink) End(tail []byte, graceful bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ends++
	s.graceful = graceful && len(s.kept) == 0
	if s.graceful {
		s.got.Write(tail)
	}
	s.kept = nil
}

// unblock sends what the sink kept and resumes the stream.
func (s *fakeSink) unblock() {
	s.mu.Lock()
	s.block = false
	s.got.Write(s.kept)
	had := len(s.kept) > 0
	s.kept = nil
	resume := s.resume
	s.mu.Unlock()
	if had {
		resume()
	}
}

func (s *fakeSink) text() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.got.String()
}

func sinkHub(t *testing.T, opts Options) (*Hub, *memory.Engine) {
	t.Helper()
	eng := memory.New(memory.Options{})
	opts.Engine = eng
	h := New(opts)
	if err := h.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	if !h.CanDetach() {
		if runtime.GOOS == "linux" {
			t.Fatal("the writer pool did not start on Linux")
		}
		t.Skip("no writer pool on " + runtime.GOOS)
	}
	return h, eng
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// A sink stream is driven by the pool: events arrive in order, a blocked sink keeps the
// stream until it resumes it (nothing lost or reordered meanwhile), and the client leaving
// ends it once, not gracefully.
func TestSinkStream(t *testing.T) {
	h, eng := sinkHub(t, Options{})
	defer eng.Close()
	defer h.Close()
	s := &fakeSink{}
	c := h.Open(context.Background(), Request{Topics: []herald.Topic{"sink:a"}})
	if _, detached := c.RunSink(s); !detached {
		t.Fatal("not detached")
	}
	pub := func(i int) {
		t.Helper()
		if _, err := eng.Publish(context.Background(), []herald.Message{{Topic: "sink:a", Data: fmt.Appendf(nil, "e%02d", i)}}); err != nil {
			t.Fatal(err)
		}
	}
	pub(0)
	waitFor(t, "the first event", func() bool { return bytes.Contains([]byte(s.text()), []byte("data: e00")) })
	s.mu.Lock()
	s.block = true
	s.mu.Unlock()
	for i := 1; i <= 20; i++ {
		pub(i)
	}
	waitFor(t, "the sink to keep bytes", func() bool { s.mu.Lock(); defer s.mu.Unlock(); return len(s.kept) > 0 })
	s.unblock()
	waitFor(t, "every event", func() bool { return bytes.Contains([]byte(s.text()), []byte("data: e20")) })
	last := -1
	for line := range bytes.SplitSeq([]byte(s.text()), []byte("\n")) {
		if d, ok := bytes.CutPrefix(line, []byte("data: e")); ok {
			var i int
			fmt.Sscanf(string(d), "%d", &i)
			if i != last+1 {
				t.Fatalf("event %d after %d:\n%s", i, last, s.text())
			}
			last = i
		}
	}
	s.mu.Lock()
	gone := s.gone
	s.mu.Unlock()
	gone()
	waitFor(t, "the end", func() bool { return h.Conns() == 0 })
	waitFor(t, "End", func() bool { s.mu.Lock(); defer s.mu.Unlock(); return s.ends == 1 })
	if s.graceful {
		t.Fatal("a client that left was ended gracefully")
	}
}

// Streams that block, resume, leave and hit their queue bound at random, concurrently, each
// end exactly once (the pool's accounting would go negative otherwise), and Close returns.
func TestSinkOwnershipUnderRaces(t *testing.T) {
	h, eng := sinkHub(t, Options{MaxQueueBytes: 1 << 10})
	defer eng.Close()
	const n = 40
	sinks := make([]*fakeSink, n)
	for i := range sinks {
		sinks[i] = &fakeSink{slow: true}
		c := h.Open(context.Background(), Request{Topics: []herald.Topic{"sink:race"}})
		if _, detached := c.RunSink(sinks[i]); !detached {
			t.Fatal("not detached")
		}
	}
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			_, _ = eng.Publish(context.Background(), []herald.Message{{Topic: "sink:race", Data: bytes.Repeat([]byte("x"), 200)}})
		}
	}()
	for i, s := range sinks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := range 30 {
				s.mu.Lock()
				s.block = (k+i)%3 == 0
				s.mu.Unlock()
				time.Sleep(time.Millisecond)
				s.unblock()
				if k == 20 && i%2 == 0 {
					s.mu.Lock()
					gone := s.gone
					s.mu.Unlock()
					gone()
				}
			}
		}()
	}
	time.Sleep(100 * time.Millisecond)
	close(stop)
	wg.Wait()
	h.Close()
	for i, s := range sinks {
		s.mu.Lock()
		ends := s.ends
		s.mu.Unlock()
		if ends != 1 {
			t.Fatalf("sink %d ended %d times", i, ends)
		}
	}
}

// The client leaving while the pool is inside Send (which then sends everything) ends the
// stream once: the close must not hand the stream to a second owner.
func TestSinkGoneDuringSend(t *testing.T) {
	h, eng := sinkHub(t, Options{})
	defer eng.Close()
	s := &fakeSink{}
	c := h.Open(context.Background(), Request{Topics: []herald.Topic{"sink:gone"}})
	if _, detached := c.RunSink(s); !detached {
		t.Fatal("not detached")
	}
	var once sync.Once
	s.onSend = func() { once.Do(func() { s.gone() }) }
	if _, err := eng.Publish(context.Background(), []herald.Message{{Topic: "sink:gone", Data: []byte("x")}}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the end", func() bool { return h.Conns() == 0 })
	h.Close()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ends != 1 {
		t.Fatalf("ended %d times", s.ends)
	}
}
