package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/heraldpush/herald/server"
)

// workerEnv makes the test binary act as a worker process: it holds the Config (the
// serialisable part) as JSON, plus the worker's index.
const workerEnv = "HERALD_BENCH_TEST_WORKER"

type workerSpec struct {
	Mode     Mode
	Servers  []string
	Conns    int
	Rate     float64
	Duration time.Duration
	Steps    int
	Workers  int
	Index    int
}

func TestMain(m *testing.M) {
	if spec := os.Getenv(workerEnv); spec != "" {
		var ws workerSpec
		if err := json.Unmarshal([]byte(spec), &ws); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		cfg := Config{Mode: ws.Mode, Servers: ws.Servers, Conns: ws.Conns, Rate: ws.Rate, Duration: ws.Duration, Steps: ws.Steps}
		if err := ServeWorker(context.Background(), cfg, ws.Index, ws.Workers, os.Stdin, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, "worker:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// TestWorkers runs a broadcast over three worker processes (this test binary, re-executed)
// and checks that their figures add up.
func TestWorkers(t *testing.T) {
	url := newGateway(t, server.Config{})
	cfg := Config{Mode: ModeBroadcast, Servers: []string{url}, Conns: 300, Rate: 10, Duration: time.Second, Workers: 3}
	cfg.Spawn = spawnTestWorker(t, cfg)
	res := runBench(t, cfg)
	if res.Workers != 3 || res.Connected != 300 || res.Published != 10 {
		t.Fatalf("workers %d connected %d published %d; want 3, 300, 10", res.Workers, res.Connected, res.Published)
	}
	if res.Deliveries != 3000 || res.Lost != 0 || res.Duplicated != 0 || res.Incomplete != 0 || res.Errors != 0 {
		t.Fatalf("deliveries %d lost %d dup %d incomplete %d errors %d (%s); want 3000 and zeros",
			res.Deliveries, res.Lost, res.Duplicated, res.Incomplete, res.Errors, res.LastError)
	}
	if res.Latency.P99 <= 0 || res.ClientCPU <= 0 {
		t.Fatalf("latency %+v, client CPU %v: the workers' figures did not arrive", res.Latency, res.ClientCPU)
	}
}

// TestWorkersTasks runs tasks in two worker processes: their tasks, on distinct topics, add up.
func TestWorkersTasks(t *testing.T) {
	url := newGateway(t, server.Config{})
	cfg := Config{Mode: ModeTasks, Servers: []string{url}, Conns: 10, Duration: time.Second, Steps: 2, Workers: 2}
	cfg.Spawn = spawnTestWorker(t, cfg)
	res := runBench(t, cfg)
	tk := res.Tasks
	if res.Workers != 2 || tk == nil || tk.Started <= 10 || tk.Ended != tk.Started || tk.Failed != 0 || res.Errors != 0 {
		t.Fatalf("workers %d, tasks %+v, errors %d (%s); want 2 workers, more than 10 tasks, all ended", res.Workers, tk, res.Errors, res.LastError)
	}
	if res.Published != 3*tk.Ended || res.Deliveries != res.Published || res.Lost != 0 || res.Duplicated != 0 {
		t.Fatalf("published %d, delivered %d, lost %d, duplicated %d; want %d, all once", res.Published, res.Deliveries, res.Lost, res.Duplicated, 3*tk.Ended)
	}
	if tk.PerSec <= 0 || res.ClientCPU <= 0 {
		t.Fatalf("tasks/s %v, client CPU %v: the workers' figures did not arrive", tk.PerSec, res.ClientCPU)
	}
}

// spawnTestWorker returns a Spawn that re-executes this test binary as a worker of cfg.
func spawnTestWorker(t *testing.T, cfg Config) func(ctx context.Context, index, count int) *exec.Cmd {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return func(ctx context.Context, index, count int) *exec.Cmd {
		spec, err := json.Marshal(workerSpec{Mode: cfg.Mode, Servers: cfg.Servers, Conns: cfg.Conns,
			Rate: cfg.Rate, Duration: cfg.Duration, Steps: cfg.Steps, Workers: count, Index: index})
		if err != nil {
			panic(err)
		}
		cmd := exec.CommandContext(ctx, exe, "-test.run=^$")
		cmd.Env = append(os.Environ(), workerEnv+"="+string(spec))
		cmd.Stderr = os.Stderr
		return cmd
	}
}
