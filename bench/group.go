package bench

import (
	"context"
	"errors"
	"math/rand/v2"
	"net"
	"net/url"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/heraldpush/herald/internal/wait"
)

// readBufSize is the size of the pooled read buffers: one read takes up to this much of a
// stream, many events at once.
const readBufSize = 16 << 10

// bufPool holds read buffers; only connections with bytes to read hold one.
var bufPool = sync.Pool{New: func() any { b := make([]byte, readBufSize); return &b }}

// histShards spreads latency recording over several histograms to keep cache lines apart.
const histShards = 16

// Stats are a group's counters, as a snapshot. Worker processes send theirs as JSON.
type Stats struct {
	// Connected is the number of subscribers whose stream is open now.
	Connected int64 `json:"connected"`
	// Ready is the number of subscribers whose first stream opened.
	Ready int64 `json:"ready"`
	// Deliveries counts every bench event received, duplicates included.
	Deliveries uint64 `json:"deliveries"`
	// Unique counts events received for the first time (see seqCheck for the classes).
	Unique uint64 `json:"unique"`
	// Duplicated counts events received again with no reset in between.
	Duplicated uint64 `json:"duplicated"`
	// Gaps counts events jumped over with no reset in between (lost).
	Gaps uint64 `json:"gaps"`
	// Resets counts "event: reset" frames; ResetReasons counts them by reason.
	Resets       uint64            `json:"resets"`
	ResetReasons map[string]uint64 `json:"reset_reasons,omitempty"`
	// ResetSkipped counts events a reset told a subscriber it would not get (not lost).
	ResetSkipped uint64 `json:"reset_skipped"`
	// ResetReplayed counts events received again after a reset moved a subscriber back.
	ResetReplayed uint64 `json:"reset_replayed"`
	// Foreign counts events that were not published by the bench.
	Foreign uint64 `json:"foreign"`
	// Errors counts failed connections and broken streams.
	Errors uint64 `json:"errors"`
	// Reconnects counts streams opened again after the first.
	Reconnects uint64 `json:"reconnects"`
	// Drops counts deliberate disconnections (reconnect mode).
	Drops uint64 `json:"drops"`
	// Hops counts reconnections to another server than the previous stream's.
	Hops uint64 `json:"hops"`
	// H2Dials counts the TCP connections the HTTP/2 streams were multiplexed over.
	H2Dials uint64 `json:"h2_dials,omitempty"`
	// Incomplete counts subscribers that did not end with every published event (set by
	// finish in the single-topic modes).
	Incomplete uint64 `json:"incomplete"`
	// CPUSec is the process's CPU time (worker processes only).
	CPUSec float64 `json:"cpu_sec,omitempty"`
	// LastError is the text of the latest error.
	LastError string `json:"last_error,omitempty"`
	// Hist holds the delivery latencies.
	Hist Hist `json:"hist"`
	// Tasks holds the tasks-mode counters (nil in the other modes).
	Tasks *TaskStats `json:"tasks,omitempty"`
}

// add merges o into s.
func (s *Stats) add(o Stats) {
	s.Connected += o.Connected
	s.Ready += o.Ready
	s.Deliveries += o.Deliveries
	s.Unique += o.Unique
	s.Duplicated += o.Duplicated
	s.Gaps += o.Gaps
	s.Resets += o.Resets
	for k, v := range o.ResetReasons {
		if s.ResetReasons == nil {
			s.ResetReasons = make(map[string]uint64)
		}
		s.ResetReasons[k] += v
	}
	s.ResetSkipped += o.ResetSkipped
	s.ResetReplayed += o.ResetReplayed
	s.Foreign += o.Foreign
	s.Errors += o.Errors
	s.Reconnects += o.Reconnects
	s.Drops += o.Drops
	s.Hops += o.Hops
	s.Incomplete += o.Incomplete
	s.H2Dials += o.H2Dials
	s.CPUSec += o.CPUSec
	if o.LastError != "" {
		s.LastError = o.LastError
	}
	s.Hist.Merge(o.Hist)
	if o.Tasks != nil {
		if s.Tasks == nil {
			s.Tasks = &TaskStats{}
		}
		s.Tasks.add(o.Tasks)
	}
}

// group is a set of subscribers in this process.
type group struct {
	cfg     *Config
	targets []target
	dialers []*net.Dialer
	dialSem chan struct{}
	subs    []*sub
	hists   [histShards]Histogram

	connected, ready                                                        atomic.Int64
	deliveries, unique, dup, gaps, resets, foreign, errs, reconnects, drops atomic.Uint64
	skipped, replayed, hops, incomplete                                     atomic.Uint64
	resetReasons                                                            [numResetReasons]atomic.Uint64
	lastErr                                                                 atomic.Pointer[string]

	// active is the measured phase: reconnect mode drops streams at random, tasks mode runs
	// tasks; activeCh is closed when it first begins.
	active     atomic.Bool
	activeCh   chan struct{}
	activeOnce sync.Once
	stopping   atomic.Bool
	tasks      taskCounters // tasks mode
	epoll      *epollReader // reads open streams (Linux, all modes but reconnect); nil: goroutines
	h2         *h2Pool      // the HTTP/2 transports (Config.HTTP2); nil: raw HTTP/1.1
	cancel     context.CancelFunc
	wg         sync.WaitGroup
	readyCh    chan struct{} // closed when every subscriber is ready
}

// newGroup prepares the subscribers with the given global indexes.
func newGroup(cfg *Config, targets []target, indexes []int) *group {
	g := &group{cfg: cfg, targets: targets, dialSem: make(chan struct{}, cfg.Dialers), readyCh: make(chan struct{}),
		activeCh: make(chan struct{})}
	if len(cfg.SourceAddrs) == 0 {
		g.dialers = []*net.Dialer{{Timeout: 10 * time.Second}}
	}
	for _, a := range cfg.SourceAddrs {
		g.dialers = append(g.dialers, &net.Dialer{Timeout: 10 * time.Second,
			LocalAddr: &net.TCPAddr{IP: a.AsSlice()}, Control: controlNoPort})
	}
	g.subs = make([]*sub, len(indexes))
	for k, i := range indexes {
		g.subs[k] = &sub{g: g, index: i, local: k, hist: &g.hists[k%histShards], topic: cfg.topic(i)}
		g.subs[k].seq.start()
	}
	if len(indexes) == 0 || cfg.Mode == ModeTasks {
		close(g.readyCh) // tasks open their streams once the run is active
	}
	if cfg.HTTP2 != "" {
		g.h2 = newH2Pool(cfg.HTTP2, cfg.H2Conns, targets, g.dialers)
	}
	if cfg.Mode == ModeTasks {
		g.tasks.run = strconv.FormatInt(time.Now().UnixMilli(), 36)
	}
	return g
}

// start opens every subscriber's stream in the background.
func (g *group) start(ctx context.Context) {
	ctx, g.cancel = context.WithCancel(ctx)
	if g.cfg.Mode != ModeReconnect && g.h2 == nil {
		// HTTP/2 streams are read from their response bodies, in goroutines.
		// Reconnect mode drops streams with read deadlines: its sessions keep reading
		// themselves.
		var err error
		if g.epoll, err = newEpollReader(); err != nil {
			g.fail(err)
		}
	}
	for _, s := range g.subs {
		g.wg.Add(1)
		go func() {
			defer g.wg.Done()
			if g.cfg.Mode == ModeTasks {
				s.runTasks(ctx)
				return
			}
			s.run(ctx)
		}()
	}
}

// stats returns a snapshot of the counters.
func (g *group) stats() Stats {
	s := Stats{
		Connected: g.connected.Load(), Ready: g.ready.Load(),
		Deliveries: g.deliveries.Load(), Unique: g.unique.Load(), Duplicated: g.dup.Load(),
		Gaps: g.gaps.Load(), Resets: g.resets.Load(), Foreign: g.foreign.Load(),
		Errors: g.errs.Load(), Reconnects: g.reconnects.Load(), Drops: g.drops.Load(),
		ResetSkipped: g.skipped.Load(), ResetReplayed: g.replayed.Load(), Hops: g.hops.Load(),
	}
	for r := range g.resetReasons {
		if n := g.resetReasons[r].Load(); n > 0 {
			if s.ResetReasons == nil {
				s.ResetReasons = make(map[string]uint64)
			}
			s.ResetReasons[resetReasonNames[r]] = n
		}
	}
	if p := g.lastErr.Load(); p != nil {
		s.LastError = *p
	}
	for i := range g.hists {
		s.Hist.Merge(g.hists[i].Snapshot())
	}
	if g.cfg.Mode == ModeTasks {
		s.Tasks = g.tasks.stats()
	}
	if g.h2 != nil {
		s.H2Dials = g.h2.dials.Load()
	}
	return s
}

// finish closes every stream and returns the final counts. published, when not zero, is
// the number of events published to the single topic of the run: subscribers that did not
// end with all of them are counted as incomplete.
func (g *group) finish(published uint64) Stats {
	g.stopping.Store(true)
	if g.cancel != nil {
		g.cancel()
	}
	for _, s := range g.subs {
		s.close()
	}
	g.wg.Wait()
	if g.epoll != nil {
		g.epoll.stop()
	}
	if g.h2 != nil {
		g.h2.close()
	}
	if published > 0 {
		for _, s := range g.subs {
			if !s.seq.end(published) {
				g.incomplete.Add(1)
			}
			s.flush()
		}
	}
	st := g.stats()
	st.Incomplete = g.incomplete.Load()
	return st
}

// setActive begins or ends the measured phase.
func (g *group) setActive(on bool) {
	g.active.Store(on)
	if on {
		g.activeOnce.Do(func() {
			g.tasks.begin = time.Now()
			close(g.activeCh)
		})
	}
}

// fail counts an error.
func (g *group) fail(err error) {
	g.errs.Add(1)
	msg := err.Error()
	g.lastErr.Store(&msg)
}

// sub is one subscriber: a goroutine that keeps a stream open, resuming with its cursor.
type sub struct {
	g     *group
	index int // among all subscribers
	local int // among the group's
	hist  *Histogram

	mu       sync.Mutex
	conn     *net.TCPConn
	cancelH2 context.CancelFunc // ends the current HTTP/2 stream

	topic    string // the topic of the stream (tasks mode: of the current task)
	st       stream
	seq      seqCheck // the topic's sequence numbers, with per-read tallies
	got      uint64   // events received for the first time on the topic (tasks mode)
	everOpen bool
	target   int // index of the server of the current (or last) stream

	// Per-read tallies, flushed to the group after each read.
	now               int64
	nDeliv            uint64
	nResets, nForeign uint64
	nReasons          [numResetReasons]uint64
}

// errDrop marks a deliberate disconnection.
var errDrop = errors.New("bench: dropped")

func (s *sub) run(ctx context.Context) {
	g := s.g
	backoff := 50 * time.Millisecond
	for ctx.Err() == nil && !g.stopping.Load() {
		var err error
		if g.h2 != nil {
			err = s.sessionH2(ctx)
		} else {
			err = s.session(ctx)
		}
		if ctx.Err() != nil || g.stopping.Load() {
			return
		}
		switch {
		case errors.Is(err, errDrop):
			g.drops.Add(1)
			backoff = 50 * time.Millisecond
			continue // at once: the point is to resume while events flow
		case errors.Is(err, errEnded):
		default:
			g.fail(err)
		}
		if !backOff(ctx, &backoff) {
			return
		}
	}
}

// close closes the current connection, if any.
func (s *sub) close() {
	s.mu.Lock()
	if s.conn != nil {
		s.conn.Close()
	}
	if s.cancelH2 != nil {
		s.cancelH2()
	}
	s.mu.Unlock()
}

// backOff waits a jittered *backoff (between half and one and a half of it) and doubles it,
// up to 2 s; it reports false when ctx ended first.
func backOff(ctx context.Context, backoff *time.Duration) bool {
	if !wait.Sleep(ctx, *backoff/2+rand.N(*backoff)) {
		return false
	}
	*backoff = min(2**backoff, 2*time.Second)
	return true
}

// dialSlot takes one of the group's slots for opening streams (bounding concurrent dials);
// release gives it back, once however often it is called.
func (g *group) dialSlot(ctx context.Context) (release func(), err error) {
	select {
	case g.dialSem <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	held := true
	return func() {
		if held {
			held = false
			<-g.dialSem
		}
	}, nil
}

// nextTarget picks the node (index into the group's targets) of s's next stream: its own
// (index mod nodes) first; in reconnect mode against a cluster, every later one at random.
func (s *sub) nextTarget() int {
	g := s.g
	ti := s.index % len(g.targets)
	if s.everOpen && g.cfg.Mode == ModeReconnect && len(g.targets) > 1 {
		ti = rand.IntN(len(g.targets))
	}
	return ti
}

// session opens one stream and reads it until it ends or breaks.
func (s *sub) session(ctx context.Context) error {
	g := s.g
	release, err := g.dialSlot(ctx)
	if err != nil {
		return err
	}
	defer release()
	ti := s.nextTarget()
	t := &g.targets[ti]
	d := g.dialers[s.index%len(g.dialers)]
	c, err := d.DialContext(ctx, "tcp", t.addr)
	if err != nil {
		return err
	}
	conn := c.(*net.TCPConn)
	s.mu.Lock()
	s.conn = conn
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.conn = nil
		s.mu.Unlock()
		conn.Close()
	}()
	if g.stopping.Load() {
		return errEnded
	}
	if _, err := conn.Write(s.request(t)); err != nil {
		return err
	}
	rd, err := newReader(conn)
	if err != nil {
		return err
	}
	_ = conn.SetReadDeadline(time.Now().Add(15 * time.Second)) // for the response head
	s.st.begin()
	open := false
	deadline := false
	defer func() {
		if open {
			g.connected.Add(-1)
		}
	}()
	for {
		bp, n, err := rd.read()
		if err != nil {
			if open && errors.Is(err, os.ErrDeadlineExceeded) {
				if g.active.Load() {
					return errDrop
				}
				_ = conn.SetReadDeadline(time.Time{})
				deadline = false
				continue
			}
			return err
		}
		err = s.feed((*bp)[:n])
		bufPool.Put(bp)
		if !open && s.st.headDone {
			open = true
			release()
			_ = conn.SetReadDeadline(time.Time{})
			s.opened(ti)
		}
		if err != nil {
			return err
		}
		if open && g.epoll != nil {
			return g.epoll.serve(ctx, s, conn)
		}
		if open && !deadline && g.active.Load() && len(s.st.lastID) > 0 {
			// Drop after an exponentially distributed time: a Poisson process per subscriber.
			wait := time.Duration(rand.ExpFloat64() * float64(g.cfg.Churn))
			_ = conn.SetReadDeadline(time.Now().Add(wait))
			deadline = true
		}
	}
}

// opened counts a stream that opened on target ti (its response head came).
func (s *sub) opened(ti int) {
	g := s.g
	g.connected.Add(1)
	if s.everOpen {
		g.reconnects.Add(1)
		if ti != s.target {
			g.hops.Add(1)
		}
		s.target = ti
		return
	}
	s.target = ti
	s.everOpen = true
	if g.ready.Add(1) == int64(len(g.subs)) {
		close(g.readyCh)
	}
}

// request returns the stream request, resuming from the cursor when there is one.
func (s *sub) request(t *target) []byte {
	g := s.g
	b := make([]byte, 0, 256)
	b = append(b, "GET "...)
	b = append(b, t.path...)
	b = append(b, "/v1/events?topic="...)
	b = append(b, url.QueryEscape(s.topic)...)
	b = append(b, " HTTP/1.1\r\nHost: "...)
	b = append(b, t.host...)
	b = append(b, "\r\nAccept: text/event-stream\r\nUser-Agent: herald-bench\r\n"...)
	if g.cfg.Token != "" {
		b = append(b, "Authorization: Bearer "...)
		b = append(b, g.cfg.Token...)
		b = append(b, "\r\n"...)
	}
	switch {
	case len(s.st.lastID) > 0:
		b = append(b, "Last-Event-ID: "...)
		b = append(b, s.st.lastID...)
		b = append(b, "\r\n"...)
	case g.cfg.Mode == ModeTasks:
		// A task's stream opens after its first steps: they are replayed from history.
		b = append(b, "Last-Event-ID: earliest\r\n"...)
	}
	return append(b, "\r\n"...)
}

// feed parses the bytes of one read, read now, and adds its tallies to the group.
func (s *sub) feed(b []byte) error {
	s.now = time.Now().UnixNano()
	err := s.st.feed(b, s)
	s.flush()
	return err
}

// event implements eventSink: it checks the order and records the latency.
func (s *sub) event(t int64, seq uint64) {
	s.nDeliv++
	s.seq.event(seq)
	s.hist.Record(time.Duration(s.now - t))
}

func (s *sub) reset(reason uint8) {
	s.nResets++
	s.nReasons[reason]++
	s.seq.resetSeen()
}

func (s *sub) foreign() { s.nForeign++ }

// flush adds the per-read tallies to the group.
func (s *sub) flush() {
	g := s.g
	if s.nDeliv > 0 {
		g.deliveries.Add(s.nDeliv)
		s.nDeliv = 0
	}
	c := &s.seq
	if c.unique > 0 {
		g.unique.Add(c.unique)
		s.got += c.unique
		c.unique = 0
	}
	if c.dup|c.gaps|c.skipped|c.replayed > 0 {
		g.dup.Add(c.dup)
		g.gaps.Add(c.gaps)
		g.skipped.Add(c.skipped)
		g.replayed.Add(c.replayed)
		c.dup, c.gaps, c.skipped, c.replayed = 0, 0, 0, 0
	}
	if s.nResets > 0 {
		g.resets.Add(s.nResets)
		for r, n := range s.nReasons {
			if n > 0 {
				g.resetReasons[r].Add(n)
			}
		}
		s.nResets, s.nReasons = 0, [numResetReasons]uint64{}
	}
	if s.nForeign > 0 {
		g.foreign.Add(s.nForeign)
		s.nForeign = 0
	}
}
