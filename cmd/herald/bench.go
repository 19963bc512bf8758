package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"strconv"
	"time"

	"github.com/heraldpush/herald/bench"
)

func benchCommand() command {
	return command{summary: "load-test a Herald cluster (idle, broadcast, unicast, reconnect, tasks)", run: runBench}
}

func runBench(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("bench", "bench --mode idle|broadcast|unicast|reconnect|tasks [flags]", stderr)
	var cfg bench.Config
	servers := []string{envOr("HERALD_SERVER", defaultServer)}
	mode := fs.String("mode", "broadcast", "`mode`: idle, broadcast, unicast, reconnect or tasks")
	fs.Var(&listFlag{p: &servers}, "server", "gateway base `URL` (repeatable or comma-separated, one per node; subscribers are spread over them, and in reconnect mode resume on a random one; env HERALD_SERVER)")
	roundRobin := fs.Bool("publish-round-robin", false, "spread publish requests over every --server (default: all to the first)")
	fs.IntVar(&cfg.Conns, "conns", 1000, "subscriber `connections` (tasks mode: tasks at a time)")
	fs.Float64Var(&cfg.Rate, "rate", bench.DefaultRate, "`events` published per second, all topics together (tasks mode: tasks started per second; default: as fast as the tasks end)")
	fs.IntVar(&cfg.Steps, "steps", bench.DefaultSteps, "tasks mode: events a task publishes before its final event")
	fs.IntVar(&cfg.ReplaySteps, "replay-steps", bench.DefaultReplaySteps, "tasks mode: how many of the steps are published before the task's stream opens (replayed from history)")
	fs.DurationVar(&cfg.Duration, "duration", bench.DefaultDuration, "how long to publish (idle: to hold the connections)")
	fs.StringVar(&cfg.TopicPrefix, "topic-prefix", bench.DefaultTopicPrefix, "`prefix` of the topics: PREFIX:b, PREFIX:u:<i>, PREFIX:r, PREFIX:idle, PREFIX:<run>-<slot>-<n> (tasks)")
	topics := fs.String("topics", "shared", "idle mode: `shared` (every stream on PREFIX:idle) or per-conn (stream i on PREFIX:idle:<i>)")
	fs.IntVar(&cfg.Batch, "batch", 1, "events per publish request ({\"events\":[…]} above 1)")
	fs.IntVar(&cfg.Publishers, "publishers", 0, "concurrent publish loops in unicast mode (default 4)")
	sources := fs.String("source-addrs", "", "local `addresses` to bind subscriber sockets to, e.g. 127.0.0.2-127.0.0.9")
	fs.IntVar(&cfg.Workers, "workers", 0, "worker processes holding the connections (default: one per --conns-per-process)")
	fs.IntVar(&cfg.ConnsPerProcess, "conns-per-process", bench.DefaultConnsPerProcess, "most connections one process holds before workers are used")
	fs.IntVar(&cfg.ServerPID, "server-pid", 0, "`pid` of a local server process: report its RSS per connection and CPU")
	fs.DurationVar(&cfg.Churn, "churn", bench.DefaultChurn, "reconnect mode: mean time between a subscriber's drops")
	fs.DurationVar(&cfg.Drain, "drain", bench.DefaultDrain, "after publishing, the longest wait for outstanding deliveries (tasks mode: for a task's stream to end after its final event)")
	fs.DurationVar(&cfg.ConnectTimeout, "connect-timeout", 0, "longest wait for every connection to open (default 10s + 1ms per connection)")
	fs.IntVar(&cfg.Dialers, "dialers", bench.DefaultDialers, "concurrent connection attempts")
	fs.StringVar(&cfg.HTTP2, "http2", "", "open the streams over HTTP/2: `h2c` (cleartext, prior knowledge, http:// servers) or tls (ALPN h2, https:// servers); default raw HTTP/1.1")
	fs.IntVar(&cfg.H2Conns, "h2-conns", bench.DefaultH2Conns, "with --http2: TCP `connections` per process the streams are multiplexed over")
	fs.BoolVar(&cfg.Insecure, "insecure", false, "accept any TLS certificate from https:// servers (self-signed, loopback benchmarks only)")
	jsonOnly := fs.Bool("json", false, "print only the JSON result line")
	workerIndex := fs.Int("worker-index", -1, "internal: run as worker process `i` of --workers")
	var cf clientFlags
	fs.StringVar(&cf.token, "token", "", "bearer `token` or API key (env HERALD_TOKEN)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	cfg.Mode = bench.Mode(*mode)
	switch *topics {
	case "shared":
	case "per-conn":
		cfg.TopicPerConn = true
	default:
		return usageError{fmt.Errorf("--topics %q: want shared or per-conn", *topics)}
	}
	if cfg.Mode == bench.ModeTasks {
		rateSet := false
		fs.Visit(func(f *flag.Flag) { rateSet = rateSet || f.Name == "rate" })
		if !rateSet {
			cfg.Rate = 0 // tasks start as fast as they end
		}
	}
	cfg.Servers = servers
	cfg.PublishRoundRobin = *roundRobin
	cfg.Token = cf.token
	if cfg.Token == "" {
		cfg.Token = os.Getenv("HERALD_TOKEN")
	}
	if *sources != "" {
		addrs, err := bench.ParseAddrRange(*sources)
		if err != nil {
			return usageError{err}
		}
		cfg.SourceAddrs = addrs
	}
	cfg.Logger = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))

	if *workerIndex >= 0 {
		return bench.ServeWorker(ctx, cfg, *workerIndex, cfg.Workers, os.Stdin, stdout)
	}
	if !*jsonOnly {
		cfg.Progress = stderr
	}
	cfg.Spawn = func(ctx context.Context, index, count int) *exec.Cmd {
		exe, err := os.Executable()
		if err != nil {
			exe = os.Args[0]
		}
		wargs := append([]string{"bench"}, args...)
		// Later flags win: the worker's share and role come last.
		wargs = append(wargs, "--workers", strconv.Itoa(count), "--worker-index", strconv.Itoa(index), "--json")
		cmd := exec.CommandContext(ctx, exe, wargs...)
		cmd.Stderr = stderr
		cmd.WaitDelay = 5 * time.Second
		return cmd
	}
	res, err := bench.Run(ctx, cfg)
	if err != nil {
		if errors.Is(err, context.Canceled) {
			return errors.New("interrupted")
		}
		return err
	}
	if !*jsonOnly {
		if err := bench.WriteSummary(stdout, res); err != nil {
			return err
		}
	}
	line, err := json.Marshal(res)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(stdout, "%s\n", line)
	return err
}
