package python_test

import (
	"context"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	redisengine "github.com/heraldpush/herald/engine/redis"
	"github.com/heraldpush/herald/internal/gatewaytest"
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

// memoryGateway starts a gateway with the memory engine.
func memoryGateway(t *testing.T) string {
	t.Helper()
	cfg := gatewayConfig()
	return gatewaytest.Memory(t, cfg)
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
	return gatewaytest.Start(t, cfg, eng, "redis")
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

// runPython runs Debian's python3 with args in dir and returns its output, failing the
// test when it exits non-zero or takes longer than d.
func runPython(t *testing.T, dir string, env []string, d time.Duration, args ...string) string {
	t.Helper()
	return testserver.Run(t, dir, env, d, debianPython, args...)
}
