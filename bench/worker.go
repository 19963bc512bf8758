package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"sync"
	"time"
)

// A run with more streams than one process may hold is spread over worker processes: the
// parent starts Spawn(i, K) for i < K, worker i holds the subscribers whose index is i
// modulo K, and the parent publishes. They speak JSON lines over the worker's stdin and
// stdout:
//
//	worker → parent  {"type":"ready","stats":{…}}     once every subscriber is connected
//	                 {"type":"stats","stats":{…}}     every statsInterval
//	                 {"type":"result","stats":{…}}    after finish, then the worker exits
//	parent → worker  {"cmd":"active","on":true}       begin (or end) the measured phase:
//	                                                  random drops, or tasks
//	                 {"cmd":"finish","published":N}   close every stream and report
//
// A worker whose stdin closes stops at once.

const statsInterval = 250 * time.Millisecond

type workerMsg struct {
	Type  string `json:"type"`
	Stats Stats  `json:"stats"`
}

type parentMsg struct {
	Cmd       string `json:"cmd"`
	On        bool   `json:"on,omitempty"`
	Published uint64 `json:"published,omitempty"`
}

// shard is a share of the subscribers: in this process or in a worker process.
type shard interface {
	// wait returns once every subscriber is connected, or ctx ends.
	wait(ctx context.Context) error
	stats() Stats
	// setActive begins or ends the measured phase (reconnect: drops; tasks: tasks).
	setActive(on bool)
	finish(published uint64) (Stats, error)
}

// localShard is a group in this process.
type localShard struct{ g *group }

func (l localShard) wait(ctx context.Context) error {
	select {
	case <-l.g.readyCh:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
func (l localShard) stats() Stats                           { return l.g.stats() }
func (l localShard) setActive(on bool)                      { l.g.setActive(on) }
func (l localShard) finish(published uint64) (Stats, error) { return l.g.finish(published), nil }

// shareOf returns the subscriber indexes of worker index of count.
func shareOf(conns, index, count int) []int {
	var idx []int
	for i := index; i < conns; i += count {
		idx = append(idx, i)
	}
	return idx
}

// ServeWorker runs worker index of count for a parent process that called Run with the
// same Config: it reads commands from in and writes reports to out.
func ServeWorker(ctx context.Context, cfg Config, index, count int, in io.Reader, out io.Writer) error {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return err
	}
	if count < 1 || index < 0 || index >= count {
		return fmt.Errorf("worker %d of %d: out of range", index, count)
	}
	targets, err := parseTargets(cfg.Servers, cfg.Insecure)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	g := newGroup(&cfg, targets, shareOf(cfg.Conns, index, count))
	g.start(ctx)

	var mu sync.Mutex
	enc := json.NewEncoder(out)
	send := func(typ string, st Stats) error {
		st.CPUSec = selfCPU()
		mu.Lock()
		defer mu.Unlock()
		return enc.Encode(workerMsg{Type: typ, Stats: st})
	}
	cmds := make(chan parentMsg)
	go func() {
		defer close(cmds)
		sc := bufio.NewScanner(in)
		for sc.Scan() {
			var m parentMsg
			if json.Unmarshal(sc.Bytes(), &m) == nil {
				select {
				case cmds <- m:
				case <-ctx.Done():
					return
				}
			}
		}
	}()
	readyCh := g.readyCh
	tick := time.NewTicker(statsInterval)
	defer tick.Stop()
	for {
		select {
		case <-readyCh:
			readyCh = nil
			if err := send("ready", g.stats()); err != nil {
				return err
			}
		case <-tick.C:
			if err := send("stats", g.stats()); err != nil {
				g.finish(0)
				return err
			}
		case m, ok := <-cmds:
			if !ok {
				g.finish(0)
				return errors.New("parent closed the control pipe")
			}
			switch m.Cmd {
			case "active":
				g.setActive(m.On)
			case "finish":
				return send("result", g.finish(m.Published))
			}
		case <-ctx.Done():
			g.finish(0)
			return ctx.Err()
		}
	}
}

// remoteShard is a worker process.
type remoteShard struct {
	cmd    *exec.Cmd
	in     io.WriteCloser
	enc    *json.Encoder
	ready  chan struct{}
	result chan Stats
	done   chan error // the reader's end: nil after a result

	mu     sync.Mutex
	latest Stats
}

// startRemote starts worker index of count.
func startRemote(ctx context.Context, cfg *Config, index, count int) (*remoteShard, error) {
	cmd := cfg.Spawn(ctx, index, count)
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	outp, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start worker %d: %w", index, err)
	}
	r := &remoteShard{cmd: cmd, in: in, enc: json.NewEncoder(in), ready: make(chan struct{}),
		result: make(chan Stats, 1), done: make(chan error, 1)}
	go func() {
		sc := bufio.NewScanner(outp)
		sc.Buffer(make([]byte, 64<<10), 16<<20)
		readyDone := false
		for sc.Scan() {
			var m workerMsg
			if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
				continue
			}
			r.mu.Lock()
			r.latest = m.Stats
			r.mu.Unlock()
			switch m.Type {
			case "ready":
				if !readyDone {
					readyDone = true
					close(r.ready)
				}
			case "result":
				r.result <- m.Stats
			}
		}
		r.done <- fmt.Errorf("worker %d: %w", index, errors.Join(sc.Err(), cmd.Wait()))
	}()
	return r, nil
}

func (r *remoteShard) wait(ctx context.Context) error {
	select {
	case <-r.ready:
		return nil
	case err := <-r.done:
		r.done <- err
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (r *remoteShard) stats() Stats {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.latest
}

func (r *remoteShard) setActive(on bool) { _ = r.enc.Encode(parentMsg{Cmd: "active", On: on}) }

func (r *remoteShard) finish(published uint64) (Stats, error) {
	if err := r.enc.Encode(parentMsg{Cmd: "finish", Published: published}); err != nil {
		return r.stats(), fmt.Errorf("worker: %w", err)
	}
	select {
	case st := <-r.result:
		r.in.Close()
		<-r.done
		return st, nil
	case err := <-r.done:
		return r.stats(), err
	case <-time.After(30 * time.Second):
		_ = r.cmd.Process.Kill()
		return r.stats(), errors.New("worker: no result within 30s")
	}
}
