package hub

import (
	"context"
	"io"
	"net"
	"runtime"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/heraldpush/herald"
	"github.com/heraldpush/herald/engine/memory"
)

// countObserver counts deliveries.
type countObserver struct {
	NopObserver
	n atomic.Int64
}

func (o *countObserver) Delivered(n int, _ []int64) { o.n.Add(int64(n)) }

// pooledConns opens n streams on topic over loopback TCP and hands them to the writer pool
// as RunDetached does after its setup. A goroutine per client discards what it reads.
func pooledConns(tb testing.TB, h *Hub, topic herald.Topic, n int) []*Conn {
	tb.Helper()
	if !h.CanDetach() {
		if runtime.GOOS == "linux" {
			tb.Fatal("the writer pool did not start on Linux")
		}
		tb.Skip("no writer pool on " + runtime.GOOS)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer ln.Close()
	conns := liveConns(tb, h, topic, n)
	for _, c := range conns {
		cl, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(func() { cl.Close() })
		go io.Copy(io.Discard, cl)
		sc, err := ln.Accept()
		if err != nil {
			tb.Fatal(err)
		}
		c.stream = nil
		c.gw = nil
		c.sock = &sockConn{chunkedStream: chunkedStream{nc: sc}}
		c.sock.raw, _ = sc.(syscall.Conn).SyscallConn()
		c.start = time.Now()
		if err := h.pool.poll.add(c); err != nil {
			tb.Fatal(err)
		}
		h.addConn(c)
		h.pool.conns.Add(1)
		c.mu.Lock()
		c.pooled = true
		c.mu.Unlock()
	}
	return conns
}

// BenchmarkFanoutPooled1k measures one event delivered to 1,000 detached streams over real
// loopback sockets: the hub encodes it once, queues it on every connection and schedules
// them; the pool's workers write each with one non-blocking write(2). Socket costs are in
// the figure; allocs/op counts the whole fan-out (2 per event: the frame).
func BenchmarkFanoutPooled1k(b *testing.B) {
	const n = 1000
	obs := &countObserver{}
	eng := memory.New(memory.Options{})
	h := New(Options{Engine: eng, MaxQueueBytes: 1 << 30, Observer: obs})
	if err := h.Start(context.Background()); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { h.Close(); eng.Close() })
	topic := herald.Topic("bench:pooled")
	conns := pooledConns(b, h, topic, n)
	ev, next := chainedEvent(conns[0])
	want := int64(0)
	deliver := func() {
		next()
		h.Deliver(ev)
		want += n
		for obs.n.Load() < want {
			time.Sleep(20 * time.Microsecond)
		}
	}
	for range 3 {
		deliver()
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		deliver()
	}
	b.StopTimer()
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/n, "ns/delivery")
}

// TestPooledStreamsEndOnClose checks that Hub.Close ends detached streams through the pool:
// every connection is finished and the client sees the chunked terminator.
func TestPooledStreamsEndOnClose(t *testing.T) {
	eng := memory.New(memory.Options{})
	defer eng.Close()
	h := New(Options{Engine: eng})
	if err := h.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	pooledConns(t, h, "pool:close", 50)
	if h.Conns() != 50 {
		t.Fatalf("conns = %d", h.Conns())
	}
	h.Close()
	if h.Conns() != 0 || h.Topics() != 0 {
		t.Fatalf("after Close: %d conns, %d topics", h.Conns(), h.Topics())
	}
}
