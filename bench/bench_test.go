package bench

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/heraldpush/herald/internal/gatewaytest"
	"github.com/heraldpush/herald/server"
)

// newGateway starts a real Herald node (memory engine) on a loopback listener.
func newGateway(t *testing.T, cfg server.Config) string {
	t.Helper()
	return gatewaytest.Memory(t, cfg)
}

func runBench(t *testing.T, cfg Config) *Result {
	t.Helper()
	if testing.Verbose() {
		cfg.Progress = os.Stderr
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := Run(ctx, cfg)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if testing.Verbose() {
		_ = WriteSummary(os.Stderr, res)
	}
	return res
}

func TestBroadcast(t *testing.T) {
	url := newGateway(t, server.Config{})
	res := runBench(t, Config{Mode: ModeBroadcast, Servers: []string{url}, Conns: 300, Rate: 20, Duration: time.Second})
	if res.Connected != 300 || res.Published != 20 {
		t.Fatalf("connected %d, published %d; want 300, 20", res.Connected, res.Published)
	}
	if res.Deliveries != 300*20 || res.Lost != 0 || res.Duplicated != 0 || res.Incomplete != 0 || res.Errors != 0 {
		t.Fatalf("deliveries %d lost %d dup %d incomplete %d errors %d (%s); want 6000 and zeros",
			res.Deliveries, res.Lost, res.Duplicated, res.Incomplete, res.Errors, res.LastError)
	}
	if res.Latency.P50 <= 0 || res.Latency.P50 > res.Latency.P99 || res.Latency.P99 > res.Latency.Max || res.Latency.Max > 5000 {
		t.Fatalf("latency %+v is not sane", res.Latency)
	}
}

func TestUnicast(t *testing.T) {
	url := newGateway(t, server.Config{})
	res := runBench(t, Config{Mode: ModeUnicast, Servers: []string{url}, Conns: 200, Rate: 400, Duration: time.Second, Batch: 10})
	if res.Connected != 200 || res.Published != 400 {
		t.Fatalf("connected %d, published %d; want 200, 400", res.Connected, res.Published)
	}
	if res.Deliveries != 400 || res.Lost != 0 || res.Duplicated != 0 || res.Errors != 0 {
		t.Fatalf("deliveries %d lost %d dup %d errors %d (%s); want 400 and zeros",
			res.Deliveries, res.Lost, res.Duplicated, res.Errors, res.LastError)
	}
}

func TestReconnect(t *testing.T) {
	url := newGateway(t, server.Config{})
	res := runBench(t, Config{Mode: ModeReconnect, Servers: []string{url}, Conns: 200, Rate: 100,
		Duration: 1500 * time.Millisecond, Churn: 200 * time.Millisecond})
	if res.Connected != 200 || res.Published != 150 {
		t.Fatalf("connected %d, published %d; want 200, 150", res.Connected, res.Published)
	}
	if res.Drops < 200 {
		t.Fatalf("only %d drops; the test wants churn", res.Drops)
	}
	if res.Lost != 0 || res.Duplicated != 0 || res.Incomplete != 0 || res.Resets != 0 || res.Errors != 0 {
		t.Fatalf("lost %d dup %d incomplete %d resets %d errors %d (%s); want zeros",
			res.Lost, res.Duplicated, res.Incomplete, res.Resets, res.Errors, res.LastError)
	}
	if res.Deliveries != 200*150 {
		t.Fatalf("deliveries %d, want %d", res.Deliveries, 200*150)
	}
}

func TestIdle(t *testing.T) {
	url := newGateway(t, server.Config{Heartbeat: 200 * time.Millisecond})
	for _, perConn := range []bool{false, true} {
		t.Run(fmt.Sprintf("topic per conn %v", perConn), func(t *testing.T) {
			res := runBench(t, Config{Mode: ModeIdle, Servers: []string{url}, Conns: 300, Duration: 500 * time.Millisecond,
				ServerPID: os.Getpid(), TopicPerConn: perConn})
			if res.Connected != 300 || res.Errors != 0 || res.Deliveries != 0 {
				t.Fatalf("connected %d errors %d deliveries %d; want 300, 0, 0", res.Connected, res.Errors, res.Deliveries)
			}
			if res.ServerRSSBefore <= 0 || res.ServerRSSAfter <= 0 {
				t.Fatalf("server RSS %d → %d, want both measured", res.ServerRSSBefore, res.ServerRSSAfter)
			}
		})
	}
}

func TestIdleTopics(t *testing.T) {
	tests := []struct {
		perConn bool
		want    []string
	}{
		{false, []string{"p:idle", "p:idle", "p:idle"}},
		{true, []string{"p:idle:0", "p:idle:1", "p:idle:2"}},
	}
	for _, tt := range tests {
		c := Config{Mode: ModeIdle, TopicPrefix: "p", TopicPerConn: tt.perConn}
		for i, want := range tt.want {
			if got := c.topic(i); got != want {
				t.Errorf("topic per conn %v: stream %d on %q, want %q", tt.perConn, i, got, want)
			}
		}
	}
}

func TestTasks(t *testing.T) {
	url := newGateway(t, server.Config{})
	tests := []struct {
		name          string
		cfg           Config
		started       func(n uint64) bool
		steps, replay int
	}{
		{"as fast as possible", Config{Conns: 20, Steps: 4, ReplaySteps: 2}, func(n uint64) bool { return n > 20 }, 4, 2},
		{"paced", Config{Conns: 20, Rate: 40, Steps: 3}, func(n uint64) bool { return n >= 20 && n <= 41 }, 3, 0}, // 41 tickets due in 1 s
		{"final only, from history", Config{Conns: 5, Steps: 1, ReplaySteps: 1}, func(n uint64) bool { return n > 5 }, 1, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := tt.cfg
			cfg.Mode, cfg.Servers, cfg.Duration, cfg.ServerPID = ModeTasks, []string{url}, time.Second, os.Getpid()
			res := runBench(t, cfg)
			tk := res.Tasks
			if tk == nil || !tt.started(tk.Started) || tk.Steps != tt.steps || tk.ReplaySteps != tt.replay {
				t.Fatalf("tasks %+v; started out of range or wrong shape", tk)
			}
			if tk.Failed != 0 || tk.Ended != tk.Started || res.Errors != 0 {
				t.Fatalf("started %d, ended %d, failed %d, errors %d (%s)", tk.Started, tk.Ended, tk.Failed, res.Errors, res.LastError)
			}
			perTask := uint64(tt.steps + 1)
			if res.Published != tk.Ended*perTask || res.Expected != res.Published || res.Deliveries != res.Expected {
				t.Fatalf("published %d, expected %d, delivered %d; want %d each", res.Published, res.Expected, res.Deliveries, tk.Ended*perTask)
			}
			if res.Lost != 0 || res.Duplicated != 0 || res.Resets != 0 {
				t.Fatalf("lost %d, duplicated %d, resets %d; want zeros", res.Lost, res.Duplicated, res.Resets)
			}
			if tk.PerSec <= 0 || tk.ServerCPUPerTask <= 0 || tk.Open.P50 <= 0 || tk.Stream.P50 <= 0 || res.PublishRTT.P50 <= 0 {
				t.Fatalf("figures missing: %+v, publish RTT %+v", tk, res.PublishRTT)
			}
		})
	}
}

// TestTasksRefused: a server that refuses the publishes fails every task, with the reason,
// and the run still ends on time.
func TestTasksRefused(t *testing.T) {
	url := newGateway(t, server.Config{Auth: server.AuthConfig{APIKeys: []string{"right-key"}}})
	start := time.Now()
	res := runBench(t, Config{Mode: ModeTasks, Servers: []string{url}, Conns: 4, Steps: 2, ReplaySteps: 1,
		Duration: 300 * time.Millisecond, Token: "wrong-key"})
	tk := res.Tasks
	// Four slots, each backing off from 50 ms after a failure: a handful of tasks in 300 ms.
	if tk == nil || tk.Started < 4 || tk.Started > 40 || tk.Failed != tk.Started || tk.Ended != 0 {
		t.Fatalf("tasks %+v; want 4–40 tasks, every one failed", tk)
	}
	if res.PublishErrors != tk.Failed || res.Published != 0 || res.Errors != tk.Failed || !strings.Contains(res.LastError, "status 401") {
		t.Fatalf("published %d, publish errors %d, errors %d, last error %q; want refusals", res.Published, res.PublishErrors, res.Errors, res.LastError)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("run took %v", d)
	}
}

func TestConfigErrors(t *testing.T) {
	tests := []struct {
		cfg  Config
		want string
	}{
		{Config{Mode: "storm", Servers: []string{"http://x"}, Conns: 1}, "unknown mode"},
		{Config{Mode: ModeTasks, Servers: []string{"http://x"}, Conns: 1, Steps: 2, ReplaySteps: 3}, "replay steps"},
		{Config{Mode: ModeTasks, Servers: []string{"http://x"}, Conns: 1, ReplaySteps: -1}, "replay steps"},
		{Config{Mode: ModeTasks, Servers: []string{"http://x"}, Conns: 0}, "conns"},
		{Config{Mode: ModeReconnect, Conns: 1}, "no server"},
		{Config{Mode: ModeBroadcast, Servers: []string{"http://x"}, Conns: 1, TopicPerConn: true}, "idle-mode option"},
	}
	for _, tt := range tests {
		if _, err := tt.cfg.withDefaults(); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%+v: err %v, want %q", tt.cfg, err, tt.want)
		}
	}
	c, err := Config{Mode: ModeTasks, Servers: []string{"http://x"}, Conns: 1}.withDefaults()
	if err != nil || c.Steps != DefaultSteps || c.ReplaySteps != 0 || c.Rate != 0 {
		t.Fatalf("defaults %d steps, %d replayed, rate %v (%v); want %d, 0, 0", c.Steps, c.ReplaySteps, c.Rate, err, DefaultSteps)
	}
}
