package python_test

import (
	"bytes"
	"context"
	"log/slog"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/heraldpush/herald"
	"github.com/heraldpush/herald/engine/memory"
	redisengine "github.com/heraldpush/herald/engine/redis"
	"github.com/heraldpush/herald/internal/testserver"
	"github.com/heraldpush/herald/server"
)

// testAPIKey is the publisher key of the gateways these tests start.
const testAPIKey = "python-client-key-0123456789"

// debianPython is Debian's interpreter, which has python3-celery and python3-redis (the
// first python3 on PATH may be another one without them).
const debianPython = "/usr/bin/python3"

// requirePython fails the test unless Debian's python3 with the given modules is installed.
func requirePython(t *testing.T, modules ...string) string {
	t.Helper()
	if _, err := os.Stat(debianPython); err != nil {
		t.Fatalf("%s not found (%v): install python3 (./scripts/test does)", debianPython, err)
	}
	for _, m := range modules {
		if out, err := exec.Command(debianPython, "-c", "import "+m).CombinedOutput(); err != nil {
			t.Fatalf("%s cannot import %s (%v): apt-get install python3-%s (./scripts/test does)\n%s", debianPython, m, err, m, out)
		}
	}
	return debianPython
}

// gatewayConfig is the configuration of the gateways of these tests: publishing needs the
// API key; scan topics replay their whole history to new subscribers.
func gatewayConfig() server.Config {
	return server.Config{
		Retry:      50 * time.Millisecond,
		Auth:       server.AuthConfig{APIKeys: []string{testAPIKey}},
		Namespaces: map[string]server.Namespace{"scan": {Replay: "all", HistorySize: 100, HistoryTTL: 10 * time.Minute}},
	}
}

// startGateway runs a real Herald gateway (the server package `herald serve` runs) on a
// loopback port with engine and returns its base URL; it stops when the test ends.
func startGateway(t *testing.T, cfg server.Config, eng herald.Engine, name string) string {
	t.Helper()
	srv, err := server.New(cfg, eng, server.Options{Logger: slog.New(slog.DiscardHandler), EngineName: name})
	if err != nil {
		t.Fatalf("server.New: %v", err)
	}
	if err := srv.Start(context.Background()); err != nil {
		t.Fatalf("server.Start: %v", err)
	}
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(func() {
		srv.Close() // ends the streams, so that hs.Close does not wait for them
		hs.Close()
		eng.Close()
	})
	return hs.URL
}

// memoryGateway starts a gateway with the memory engine.
func memoryGateway(t *testing.T) string {
	t.Helper()
	cfg := gatewayConfig()
	return startGateway(t, cfg, memory.New(memory.Options{Retention: cfg.Retention, Logger: slog.New(slog.DiscardHandler)}), "memory")
}

// redisGateway starts a gateway with the Redis engine on rs.
func redisGateway(t *testing.T, rs *testserver.RedisServer) string {
	t.Helper()
	cfg := gatewayConfig()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	eng, err := redisengine.New(ctx, redisengine.Options{URL: rs.URL(), Retention: cfg.Retention, Prefix: "pytest", Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatalf("redis engine: %v", err)
	}
	return startGateway(t, cfg, eng, "redis")
}

// pythonDir is the directory of the Python package (this test's directory).
func pythonDir(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs(".")
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

// proc is a process a test started in its own process group; stop ends the group.
type proc struct {
	cmd  *exec.Cmd
	out  *syncBuffer
	done chan struct{}
}

// startProc starts name with args in dir with env added, its output collected; it is
// stopped (SIGTERM to its group, SIGKILL after 10 s) when the test ends.
func startProc(t *testing.T, dir string, env []string, name string, args ...string) *proc {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	out := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	p := &proc{cmd: cmd, out: out, done: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(p.stop)
	return p
}

func (p *proc) stop() {
	pgid := -p.cmd.Process.Pid
	_ = syscall.Kill(pgid, syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		_ = syscall.Kill(pgid, syscall.SIGKILL)
		<-p.done
	}
}

// waitOutput waits until the process printed a line containing s, failing the test when
// it exits first or d passes.
func (p *proc) waitOutput(t *testing.T, s string, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !strings.Contains(p.out.String(), s) {
		select {
		case <-p.done:
			t.Fatalf("process exited before printing %q; output:\n%s", s, p.out.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %q after %v; output:\n%s", s, d, p.out.String())
		}
	}
}

// runPython runs Debian's python3 with args in dir and returns its output, failing the
// test when it exits non-zero or takes longer than d.
func runPython(t *testing.T, dir string, env []string, d time.Duration, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	cmd := exec.CommandContext(ctx, debianPython, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("python3 %s: %v\n%s", strings.Join(args, " "), err, out.String())
	}
	return out.String()
}
