package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"
)

// Latency is a latency summary in milliseconds.
type Latency struct {
	P50 float64 `json:"p50"`
	P90 float64 `json:"p90"`
	P99 float64 `json:"p99"`
	Max float64 `json:"max"`
}

func latencyOf(h Hist) Latency {
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	return Latency{P50: ms(h.Quantile(0.50)), P90: ms(h.Quantile(0.90)), P99: ms(h.Quantile(0.99)), Max: ms(time.Duration(h.Max))}
}

// Result is the outcome of a run; its JSON form is the line `herald bench` prints.
type Result struct {
	Mode    Mode     `json:"mode"`
	Servers []string `json:"servers"`
	Conns   int      `json:"conns"`
	Workers int      `json:"workers"` // processes holding the streams
	Rate    float64  `json:"rate"`
	Batch   int      `json:"batch"`
	// HTTP is the subscribers' protocol: "http/1.1", "h2c" or "h2" (TLS).
	HTTP string `json:"http"`
	// H2Conns is the TCP connections the HTTP/2 streams were multiplexed over.
	H2Conns  uint64  `json:"h2_conns,omitempty"`
	Duration float64 `json:"duration_sec"`
	// Connected is the number of streams open when publishing started (idle: after the hold).
	Connected  int64   `json:"connected"`
	ConnectSec float64 `json:"connect_sec"`

	Published     uint64  `json:"published"`
	PublishErrors uint64  `json:"publish_errors"`
	PublishRTT    Latency `json:"publish_rtt_ms"`
	// Expected is the deliveries due: published × subscribers (unicast: published).
	Expected         uint64  `json:"expected"`
	Deliveries       uint64  `json:"deliveries"`
	DeliveriesPerSec float64 `json:"deliveries_per_sec"`
	Latency          Latency `json:"latency_ms"`
	// Lost is Expected minus the events received and minus those resets skipped;
	// Duplicated counts events received again with no reset in between. Resets counts
	// "event: reset" frames (by reason in ResetReasons); ResetSkipped the events they told
	// subscribers would not come; ResetReplayed the events received again because a reset
	// moved a subscriber back. See the package doc for the exact rules.
	Lost          uint64            `json:"lost"`
	Duplicated    uint64            `json:"duplicated"`
	Incomplete    uint64            `json:"incomplete_subscribers"`
	Resets        uint64            `json:"resets"`
	ResetReasons  map[string]uint64 `json:"reset_reasons,omitempty"`
	ResetSkipped  uint64            `json:"reset_skipped"`
	ResetReplayed uint64            `json:"reset_replayed"`
	Errors        uint64            `json:"errors"`
	LastError     string            `json:"last_error,omitempty"`
	Reconnects    uint64            `json:"reconnects"`
	Drops         uint64            `json:"drops"`
	// Hops counts reconnections to another server than the stream before (several servers).
	Hops uint64 `json:"hops"`
	// Tasks holds the tasks-mode figures.
	Tasks *TaskResult `json:"tasks,omitempty"`

	// The measured window: from the start of publishing to the end of the drain (idle: the
	// hold after connecting).
	WindowSec float64 `json:"window_sec"`
	// ClientCPU is the load generator's CPU time in the window (all its processes).
	ClientCPU            float64 `json:"client_cpu_sec"`
	ClientCPUPerDelivery float64 `json:"client_cpu_us_per_delivery,omitempty"`

	ServerPID            int     `json:"server_pid,omitempty"`
	ServerRSSBefore      int64   `json:"server_rss_before_bytes,omitempty"`
	ServerRSSAfter       int64   `json:"server_rss_after_bytes,omitempty"`
	ServerRSSPerConn     float64 `json:"server_rss_per_conn_bytes,omitempty"`
	ServerCPU            float64 `json:"server_cpu_sec,omitempty"`
	ServerCPUPerDelivery float64 `json:"server_cpu_us_per_delivery,omitempty"`
}

// Run performs one run and returns its figures. A run that could not connect or publish
// at all is an error; partial failures are counted in the Result.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	targets, err := parseTargets(cfg.Servers, cfg.Insecure)
	if err != nil {
		return nil, err
	}
	workers := cfg.Workers
	if workers <= 0 {
		workers = (cfg.Conns + cfg.ConnsPerProcess - 1) / cfg.ConnsPerProcess
	}
	if workers > 1 && cfg.Spawn == nil {
		return nil, fmt.Errorf("%d connections need %d worker processes, and no way to start them", cfg.Conns, workers)
	}
	res := &Result{Mode: cfg.Mode, Servers: cfg.Servers, Conns: cfg.Conns, Rate: cfg.Rate, Batch: cfg.Batch,
		Duration: cfg.Duration.Seconds(), ServerPID: cfg.ServerPID}
	res.Workers = max(workers, 1)
	switch cfg.HTTP2 {
	case HTTP2H2C:
		res.HTTP = "h2c"
	case HTTP2TLS:
		res.HTTP = "h2"
	default:
		res.HTTP = "http/1.1"
	}
	if cfg.Mode == ModeIdle || cfg.Mode == ModeTasks {
		res.Rate, res.Batch = 0, 0
	}
	if cfg.Mode == ModeTasks {
		res.Rate = cfg.Rate
	}
	if cfg.ServerPID > 0 {
		if res.ServerRSSBefore, err = procRSS(cfg.ServerPID); err != nil {
			return nil, fmt.Errorf("server-pid: %w", err)
		}
	}

	// Connect.
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	connStart := time.Now()
	var shards []shard
	if workers <= 1 {
		g := newGroup(&cfg, targets, shareOf(cfg.Conns, 0, 1))
		g.start(runCtx)
		shards = append(shards, localShard{g})
	} else {
		for i := range workers {
			r, err := startRemote(runCtx, &cfg, i, workers)
			if err != nil {
				cancel()
				finishAll(shards, 0)
				return nil, err
			}
			shards = append(shards, r)
		}
	}
	finished := false
	defer func() {
		if !finished {
			finishAll(shards, 0)
		}
	}()
	prog := newProgress(cfg.Progress, shards, cfg.Conns, cfg.Mode == ModeTasks)
	defer prog.stop()
	waitCtx, waitCancel := context.WithTimeout(runCtx, cfg.ConnectTimeout)
	var waitErr error
	for _, s := range shards {
		if waitErr = s.wait(waitCtx); waitErr != nil {
			break
		}
	}
	waitCancel()
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	res.ConnectSec = time.Since(connStart).Seconds()
	st := sum(shards)
	res.Connected = st.Connected
	if st.Connected == 0 && cfg.Mode != ModeTasks {
		return nil, errors.Join(fmt.Errorf("no stream could be opened (%d errors; last: %s)", st.Errors, st.LastError), waitErr)
	}
	if st.Ready < int64(cfg.Conns) && cfg.Mode != ModeTasks {
		cfg.Logger.Warn("not every subscriber connected in time", "ready", st.Ready, "conns", cfg.Conns, "last_error", st.LastError)
	}

	// Measure.
	w0 := snapshot(&cfg, shards)
	var pub *publisher
	var published uint64
	if cfg.Mode == ModeIdle {
		select {
		case <-ctx.Done():
		case <-time.After(cfg.Duration):
		}
		res.Connected = sum(shards).Connected
	} else if cfg.Mode == ModeTasks {
		runTasks(ctx, &cfg, shards)
	} else {
		if cfg.Mode == ModeReconnect {
			for _, s := range shards {
				s.setActive(true)
			}
		}
		pub = newPublisher(&cfg, targets)
		pub.run(ctx, cfg.Conns)
		if cfg.Mode == ModeReconnect {
			for _, s := range shards {
				s.setActive(false)
			}
		}
		published = pub.published.Load()
		res.Published, res.PublishErrors = published, pub.errs.Load()
		if p := pub.lastErr.Load(); p != nil {
			res.LastError = *p
		}
		res.PublishRTT = latencyOf(pub.rtt.Snapshot())
		res.Expected = published
		if cfg.Mode != ModeUnicast {
			res.Expected = published * uint64(res.Connected)
		}
		// Drain: wait for what is still on its way.
		deadline := time.Now().Add(cfg.Drain)
		for time.Now().Before(deadline) && ctx.Err() == nil && sum(shards).Unique < res.Expected {
			time.Sleep(20 * time.Millisecond)
		}
	}
	w1 := snapshot(&cfg, shards)
	if cfg.ServerPID > 0 {
		res.ServerRSSAfter, _ = procRSS(cfg.ServerPID)
		if res.Connected > 0 {
			res.ServerRSSPerConn = float64(res.ServerRSSAfter-res.ServerRSSBefore) / float64(res.Connected)
		}
	}

	// Finish.
	prog.stop()
	single := uint64(0)
	if cfg.Mode == ModeBroadcast || cfg.Mode == ModeReconnect {
		single = published
	}
	total, errs := finishAll(shards, single)
	finished = true
	if errs != nil {
		cfg.Logger.Warn("worker trouble", "err", errs)
	}
	res.Deliveries = total.Deliveries
	res.Latency = latencyOf(total.Hist)
	if got := total.Unique + total.ResetSkipped; got < res.Expected {
		res.Lost = res.Expected - got
	}
	res.Duplicated, res.Incomplete, res.Resets = total.Duplicated, total.Incomplete, total.Resets
	res.ResetReasons, res.ResetSkipped, res.ResetReplayed = total.ResetReasons, total.ResetSkipped, total.ResetReplayed
	res.Hops = total.Hops
	if cfg.Mode == ModeTasks && total.Tasks != nil {
		tk := total.Tasks
		res.Published, res.PublishErrors, res.PublishRTT = tk.Published, tk.PublishErrors, latencyOf(tk.Publish)
		res.Expected = tk.Published
		if got := total.Unique + total.ResetSkipped; got < res.Expected {
			res.Lost = res.Expected - got
		}
		res.Tasks = &TaskResult{Steps: cfg.Steps, ReplaySteps: cfg.ReplaySteps, Started: tk.Started, Ended: tk.Ended,
			Failed: tk.Failed, Open: latencyOf(tk.Open), Stream: latencyOf(tk.Stream)}
	}
	res.Errors = total.Errors + res.PublishErrors
	if cfg.Mode == ModeTasks {
		res.Errors = total.Errors // a failed task is one error, whatever failed in it
	}
	if total.LastError != "" {
		res.LastError = total.LastError
	}
	res.Reconnects, res.Drops = total.Reconnects, total.Drops
	res.H2Conns = total.H2Dials

	win := w1.at.Sub(w0.at).Seconds()
	res.WindowSec = win
	if win > 0 {
		res.DeliveriesPerSec = float64(w1.deliveries-w0.deliveries) / win
	}
	res.ClientCPU = w1.clientCPU - w0.clientCPU
	if d := w1.deliveries - w0.deliveries; d > 0 {
		res.ClientCPUPerDelivery = res.ClientCPU / float64(d) * 1e6
	}
	if cfg.ServerPID > 0 {
		res.ServerCPU = (w1.serverCPU - w0.serverCPU).Seconds()
		if d := w1.deliveries - w0.deliveries; d > 0 {
			res.ServerCPUPerDelivery = res.ServerCPU / float64(d) * 1e6
		}
	}
	if t := res.Tasks; t != nil {
		if n := w1.tasks - w0.tasks; n > 0 && win > 0 {
			t.PerSec = float64(n) / win
			t.ClientCPUPerTask = res.ClientCPU / float64(n) * 1e6
			t.ServerCPUPerTask = res.ServerCPU / float64(n) * 1e6
		}
	}
	return res, nil
}

// mark is the state at one end of the measured window.
type mark struct {
	at         time.Time
	deliveries uint64
	clientCPU  float64
	serverCPU  time.Duration
	tasks      uint64 // tasks ended well
}

func snapshot(cfg *Config, shards []shard) mark {
	st := sum(shards)
	m := mark{at: time.Now(), deliveries: st.Deliveries, clientCPU: selfCPU() + st.CPUSec}
	if st.Tasks != nil {
		m.tasks = st.Tasks.Ended
	}
	if cfg.ServerPID > 0 {
		m.serverCPU, _ = procCPU(cfg.ServerPID)
	}
	return m
}

// sum adds up the shards' latest stats.
func sum(shards []shard) Stats {
	var t Stats
	for _, s := range shards {
		t.add(s.stats())
	}
	return t
}

// finishAll finishes every shard (in parallel) and adds up their final stats.
func finishAll(shards []shard, published uint64) (Stats, error) {
	type out struct {
		st  Stats
		err error
	}
	ch := make(chan out, len(shards))
	for _, s := range shards {
		go func() {
			st, err := s.finish(published)
			ch <- out{st, err}
		}()
	}
	var total Stats
	var errs []error
	for range shards {
		o := <-ch
		total.add(o.st)
		errs = append(errs, o.err)
	}
	return total, errors.Join(errs...)
}

// progress prints a line every second.
type progress struct {
	done chan struct{}
	wait chan struct{}
}

func newProgress(w io.Writer, shards []shard, conns int, tasks bool) *progress {
	p := &progress{done: make(chan struct{}), wait: make(chan struct{})}
	if w == nil {
		close(p.wait)
		return p
	}
	go func() {
		defer close(p.wait)
		start := time.Now()
		t := time.NewTicker(time.Second)
		defer t.Stop()
		last, lastTasks := uint64(0), uint64(0)
		var prev Hist
		for {
			select {
			case <-p.done:
				return
			case <-t.C:
			}
			st := sum(shards)
			if tasks && st.Tasks != nil {
				fmt.Fprintf(w, "bench %5.1fs  tasks ended/s %d  in progress %d  deliveries/s %d  p99 %s (last second %s)  errors %d\n",
					time.Since(start).Seconds(), st.Tasks.Ended-lastTasks, st.Tasks.Active, st.Deliveries-last,
					st.Hist.Quantile(0.99).Round(10*time.Microsecond),
					st.Hist.Since(prev).Quantile(0.99).Round(10*time.Microsecond), st.Errors)
				last, lastTasks, prev = st.Deliveries, st.Tasks.Ended, st.Hist
				continue
			}
			fmt.Fprintf(w, "bench %5.1fs  connected %d/%d  deliveries/s %d  p99 %s (last second %s)  errors %d\n",
				time.Since(start).Seconds(), st.Connected, conns, st.Deliveries-last,
				st.Hist.Quantile(0.99).Round(10*time.Microsecond),
				st.Hist.Since(prev).Quantile(0.99).Round(10*time.Microsecond), st.Errors)
			last, prev = st.Deliveries, st.Hist
		}
	}()
	return p
}

func (p *progress) stop() {
	select {
	case <-p.done:
	default:
		close(p.done)
	}
	<-p.wait
}
