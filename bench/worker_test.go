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
		cfg := Config{Mode: ws.Mode, Servers: ws.Servers, Conns: ws.Conns, Rate: ws.Rate, Duration: ws.Duration}
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
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cfg.Spawn = func(ctx context.Context, index, count int) *exec.Cmd {
		spec, err := json.Marshal(workerSpec{Mode: cfg.Mode, Servers: cfg.Servers, Conns: cfg.Conns,
			Rate: cfg.Rate, Duration: cfg.Duration, Workers: count, Index: index})
		if err != nil {
			panic(err)
		}
		cmd := exec.CommandContext(ctx, exe, "-test.run=^$")
		cmd.Env = append(os.Environ(), workerEnv+"="+string(spec))
		cmd.Stderr = os.Stderr
		return cmd
	}
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
