package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/heraldpush/herald/internal/wait"
)

// Tasks mode models the short task streams of a job API (an image scan: a few progress
// steps over 5–25 s, then the result): what matters there is how many streams a node opens
// and ends per second, not how many it holds. Each of Conns slots runs one task after
// another while the run is active. A task:
//
//  1. publishes ReplaySteps steps to a topic nobody used before, <prefix>:<run>-<slot>-<n>
//     (the worker started before the browser opened its stream);
//  2. opens the stream with Last-Event-ID: earliest and reads the response head — the
//     steps so far are replayed from history;
//  3. publishes the other steps, then the final event ("final": true), one request each,
//     while an epoll loop reads the stream;
//  4. waits until the server ends the stream after the final event (at most Config.Drain).
//
// Every event is a bench event ({"t","seq"}, seq 1 … Steps+1 on its topic), so a task's
// stream is checked like any other subscriber's (seqCheck): steps lost, duplicated,
// replayed. A task ends well when every event arrived and the server ended the stream;
// anything else (a refused publish, a broken stream, no end in time) fails it and is counted
// as an error; the events it published that did not arrive count as lost.

// TaskStats are the tasks-mode counters of a group.
type TaskStats struct {
	// Started, Ended and Failed count tasks begun, ended well and failed; Active is the
	// number in progress now.
	Started uint64 `json:"started"`
	Ended   uint64 `json:"ended"`
	Failed  uint64 `json:"failed"`
	Active  int64  `json:"active"`
	// Published counts events the server accepted (steps and final events); PublishErrors
	// those it did not.
	Published     uint64 `json:"published"`
	PublishErrors uint64 `json:"publish_errors"`
	// Open holds the time from dialling to a stream's response head; Stream the time from
	// the response head to the server's end of the stream; Publish the publish round trips.
	Open    Hist `json:"open"`
	Stream  Hist `json:"stream"`
	Publish Hist `json:"publish"`
}

func (t *TaskStats) add(o *TaskStats) {
	t.Started += o.Started
	t.Ended += o.Ended
	t.Failed += o.Failed
	t.Active += o.Active
	t.Published += o.Published
	t.PublishErrors += o.PublishErrors
	t.Open.Merge(o.Open)
	t.Stream.Merge(o.Stream)
	t.Publish.Merge(o.Publish)
}

// TaskResult is the tasks-mode part of a Result.
type TaskResult struct {
	// Steps is the events of a task before its final one; ReplaySteps of them were
	// published before its stream opened.
	Steps       int `json:"steps"`
	ReplaySteps int `json:"replay_steps"`
	// Started, Ended and Failed count tasks begun, ended well and failed.
	Started uint64 `json:"started"`
	Ended   uint64 `json:"ended"`
	Failed  uint64 `json:"failed"`
	// PerSec is the tasks ended well per second of the measured window: streams the
	// cluster opened, replayed, carried and ended.
	PerSec float64 `json:"ended_per_sec"`
	// Open is the time from dialling to the response head; Stream from the response head
	// to the server's end of the stream (the live steps and the final event included).
	Open   Latency `json:"open_ms"`
	Stream Latency `json:"stream_ms"`
	// ClientCPUPerTask and ServerCPUPerTask are CPU time per task ended well, in µs: a
	// stream's setup and teardown, its replay, and the task's publish requests.
	ClientCPUPerTask float64 `json:"client_cpu_us_per_task"`
	ServerCPUPerTask float64 `json:"server_cpu_us_per_task,omitempty"`
}

// runTasks runs the tasks of every shard for cfg.Duration, then waits (at most twice
// cfg.Drain) for the tasks in progress to end.
func runTasks(ctx context.Context, cfg *Config, shards []shard) {
	for _, s := range shards {
		s.setActive(true)
	}
	select {
	case <-ctx.Done():
	case <-time.After(cfg.Duration):
	}
	for _, s := range shards {
		s.setActive(false)
	}
	deadline := time.Now().Add(2 * cfg.Drain)
	for _, s := range shards {
		if _, remote := s.(*remoteShard); remote {
			// Let every worker's report show the end of the active phase.
			time.Sleep(2 * statsInterval)
			break
		}
	}
	for time.Now().Before(deadline) && ctx.Err() == nil {
		if st := sum(shards); st.Tasks != nil && st.Tasks.Active == 0 {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// taskCounters are a group's live tasks-mode counters.
type taskCounters struct {
	started, ended, failed, published, pubErrs atomic.Uint64
	active                                     atomic.Int64
	open, stream, publish                      Histogram
	run                                        string // names this process's run in topics
	begin                                      time.Time
	tickets                                    atomic.Uint64 // tasks begun, for pacing
}

func (c *taskCounters) stats() *TaskStats {
	return &TaskStats{
		Started: c.started.Load(), Ended: c.ended.Load(), Failed: c.failed.Load(), Active: c.active.Load(),
		Published: c.published.Load(), PublishErrors: c.pubErrs.Load(),
		Open: c.open.Snapshot(), Stream: c.stream.Snapshot(), Publish: c.publish.Snapshot(),
	}
}

// runTasks is a tasks-mode slot: it runs tasks one after another while the group is active.
func (s *sub) runTasks(ctx context.Context) {
	g := s.g
	select {
	case <-g.activeCh:
	case <-ctx.Done():
		return
	}
	conns := make([]pubConn, len(g.targets))
	for i := range conns {
		conns[i] = pubConn{t: &g.targets[i], token: g.cfg.Token}
	}
	defer func() {
		for i := range conns {
			conns[i].close()
		}
	}()
	tc := &g.tasks
	backoff := 50 * time.Millisecond
	for n := 0; g.active.Load() && !g.stopping.Load() && ctx.Err() == nil; n++ {
		if !s.pace(ctx) {
			return
		}
		tc.started.Add(1)
		tc.active.Add(1)
		err := s.task(ctx, conns, n)
		tc.active.Add(-1)
		if err == nil {
			tc.ended.Add(1)
			backoff = 50 * time.Millisecond
			continue
		}
		tc.failed.Add(1)
		if ctx.Err() != nil {
			return
		}
		g.fail(err)
		// A failing server is not hammered: the slot waits before its next task.
		if !backOff(ctx, &backoff) {
			return
		}
	}
}

// pace waits until the slot may begin its next task: at once without a rate, else when the
// group's next ticket is due (the group's share of Config.Rate). It reports false when the
// run ends first.
func (s *sub) pace(ctx context.Context) bool {
	g := s.g
	if g.cfg.Rate <= 0 {
		return true
	}
	rate := g.cfg.Rate * float64(len(g.subs)) / float64(g.cfg.Conns)
	k := g.tasks.tickets.Add(1) - 1
	at := g.tasks.begin.Add(time.Duration(float64(k) / rate * float64(time.Second)))
	if !wait.Sleep(ctx, time.Until(at)) {
		return false
	}
	return g.active.Load()
}

// taskTopic returns the topic of the slot's task n.
func (g *group) taskTopic(slot, n int) string {
	b := make([]byte, 0, 48)
	b = append(b, g.cfg.TopicPrefix...)
	b = append(b, ':')
	b = append(b, g.tasks.run...)
	b = append(b, '-')
	b = strconv.AppendInt(b, int64(slot), 10)
	b = append(b, '-')
	b = strconv.AppendInt(b, int64(n), 10)
	return string(b)
}

// task runs the slot's task n.
func (s *sub) task(ctx context.Context, conns []pubConn, n int) error {
	g := s.g
	s.topic = g.taskTopic(s.index, n)
	s.st.lastID = s.st.lastID[:0]
	s.seq.start()
	s.got = 0
	steps := uint64(g.cfg.Steps)
	var seq uint64
	var body []byte
	publish := func() error {
		seq++
		now := time.Now().UnixNano()
		body = append(body[:0], `{"topic":"`...)
		body = append(body, s.topic...)
		body = append(body, `","data":`...)
		body = appendData(body, now, seq)
		body = append(body, `,"sent_time":`...)
		body = strconv.AppendInt(body, now, 10)
		if seq > steps {
			body = append(body, `,"final":true`...)
		}
		body = append(body, '}')
		c := &conns[0]
		if g.cfg.PublishRoundRobin {
			c = &conns[rand.IntN(len(conns))]
		}
		begin := time.Now()
		status, ans, err := c.post(ctx, body)
		if err == nil && status != 200 {
			err = fmt.Errorf("publish: status %d: %s", status, bytes.TrimSpace(ans))
		}
		if err != nil {
			seq-- // not taken: not due
			g.tasks.pubErrs.Add(1)
			return fmt.Errorf("task %s: %w", s.topic, err)
		}
		g.tasks.publish.Record(time.Since(begin))
		g.tasks.published.Add(1)
		return nil
	}
	for seq < uint64(g.cfg.ReplaySteps) {
		if err := publish(); err != nil {
			return err
		}
	}

	dial := time.Now()
	conn, err := s.openTask(ctx)
	if err != nil {
		return fmt.Errorf("task %s: %w", s.topic, err)
	}
	opened := time.Now()
	g.tasks.open.Record(opened.Sub(dial))
	tctx, cancel := context.WithTimeout(ctx, g.cfg.Drain)
	defer cancel()
	var end error
	if g.epoll != nil {
		h, err := g.epoll.attach(s, conn)
		if err != nil {
			return fmt.Errorf("task %s: %w", s.topic, err)
		}
		for seq <= steps && err == nil {
			err = publish()
		}
		if err != nil {
			cancel()
			_ = g.epoll.wait(tctx, h)
			s.seq.end(seq)
			s.flush()
			return err
		}
		end = g.epoll.wait(tctx, h)
	} else {
		// Without epoll (not Linux) the slot publishes first and reads afterwards: the
		// figures hold, the delivery latencies include the publishing.
		defer conn.Close()
		for seq <= steps {
			if err := publish(); err != nil {
				return err
			}
		}
		end = s.readToEnd(tctx, conn)
	}
	if !errors.Is(end, errEnded) {
		s.seq.end(seq)
		s.flush()
		if errors.Is(end, context.DeadlineExceeded) {
			end = fmt.Errorf("stream not ended within %v of the final event", g.cfg.Drain)
		}
		return fmt.Errorf("task %s: %w", s.topic, end)
	}
	g.tasks.stream.Record(time.Since(opened))
	s.seq.end(seq)
	s.flush()
	if s.got != seq {
		return fmt.Errorf("task %s: stream ended with %d of its %d events", s.topic, s.got, seq)
	}
	return nil
}

// openTask dials the task's stream and reads its response head (and what came with it).
func (s *sub) openTask(ctx context.Context) (*net.TCPConn, error) {
	g := s.g
	ti := s.index % len(g.targets)
	t := &g.targets[ti]
	c, err := g.dialers[s.index%len(g.dialers)].DialContext(ctx, "tcp", t.addr)
	if err != nil {
		return nil, err
	}
	conn := c.(*net.TCPConn)
	// While the head is awaited, finish can end the run by closing the connection.
	s.mu.Lock()
	s.conn = conn
	s.mu.Unlock()
	ok := false
	defer func() {
		s.mu.Lock()
		s.conn = nil
		s.mu.Unlock()
		if !ok {
			conn.Close()
		}
	}()
	if g.stopping.Load() {
		return nil, errEnded
	}
	if _, err := conn.Write(s.request(t)); err != nil {
		return nil, err
	}
	rd, err := newReader(conn)
	if err != nil {
		return nil, err
	}
	_ = conn.SetReadDeadline(time.Now().Add(15 * time.Second))
	s.st.begin()
	for !s.st.headDone {
		bp, n, err := rd.read()
		if err != nil {
			return nil, err
		}
		err = s.feed((*bp)[:n])
		bufPool.Put(bp)
		if err != nil {
			return nil, err
		}
	}
	_ = conn.SetReadDeadline(time.Time{})
	ok = true
	return conn, nil
}

// readToEnd reads conn until its stream ends or ctx ends.
func (s *sub) readToEnd(ctx context.Context, conn *net.TCPConn) error {
	rd, err := newReader(conn)
	if err != nil {
		return err
	}
	if d, ok := ctx.Deadline(); ok {
		_ = conn.SetReadDeadline(d)
	}
	for {
		bp, n, err := rd.read()
		if err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				return context.DeadlineExceeded
			}
			return err
		}
		err = s.feed((*bp)[:n])
		bufPool.Put(bp)
		if err != nil {
			return err
		}
	}
}
