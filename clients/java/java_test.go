package java_test

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/heraldpush/herald"
	"github.com/heraldpush/herald/engine/memory"
	redisengine "github.com/heraldpush/herald/engine/redis"
	"github.com/heraldpush/herald/internal/gatewaytest"
	"github.com/heraldpush/herald/internal/testserver"
	"github.com/heraldpush/herald/server"
)

// testAPIKey is the publisher key of the gateways these tests start.
const testAPIKey = "java-client-key-0123456789"

// TestJavaClient compiles the client and its tests with the JDK's javac and runs them with
// java against real gateways: one with the memory engine, one with the Redis engine whose
// redis-server is stopped (so it answers 503 engine_unavailable) until the Java test asks
// this wrapper, through a control endpoint, to start it again while the client retries.
func TestJavaClient(t *testing.T) {
	javac := testserver.RequireBinary(t, "javac", "default-jdk-headless")
	java := testserver.RequireBinary(t, "java", "default-jdk-headless")
	out := t.TempDir()
	sources, err := javaSources("src")
	if err != nil {
		t.Fatal(err)
	}
	run(t, 120*time.Second, nil, javac, append([]string{"-Xlint:all", "-Werror", "-d", out}, sources...)...)

	url := gateway(t, memory.New(memory.Options{Retention: config().Retention, Logger: slog.New(slog.DiscardHandler)}))
	rs := testserver.Redis(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	eng, err := redisengine.New(ctx, redisengine.Options{URL: rs.URL(), Retention: config().Retention, Prefix: "jtest", Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatalf("redis engine: %v", err)
	}
	redisURL := gateway(t, eng)
	rs.Stop()
	controlURL := rs.StartControl(t)

	text := run(t, 120*time.Second, []string{
		"HERALD_TEST_URL=" + url,
		"HERALD_TEST_REDIS_URL=" + redisURL,
		"HERALD_TEST_CONTROL_URL=" + controlURL,
		"HERALD_TEST_API_KEY=" + testAPIKey,
	}, java, "-cp", out, "io.github.heraldpush.herald.HeraldTest")
	t.Logf("java tests:\n%s", text)
	m := regexp.MustCompile(`(?m)^(\d+) passed, (\d+) failed$`).FindStringSubmatch(text)
	if m == nil {
		t.Fatal("no `N passed, N failed` line in the output")
	}
	if passed, _ := strconv.Atoi(m[1]); passed < 12 || m[2] != "0" {
		t.Fatalf("%s passed, %s failed; want at least 12 passed and none failed", m[1], m[2])
	}
}

// javaSources lists the .java files under dir.
func javaSources(dir string) ([]string, error) {
	var files []string
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && filepath.Ext(p) == ".java" {
			files = append(files, p)
		}
		return err
	})
	return files, err
}

func config() server.Config {
	return server.Config{
		Retry: 50 * time.Millisecond,
		Auth:  server.AuthConfig{APIKeys: []string{testAPIKey}},
	}
}

// gateway runs a real Herald gateway (the server package `herald serve` runs) with eng on a
// loopback port and returns its base URL; it stops when the test ends.
func gateway(t *testing.T, eng herald.Engine) string {
	t.Helper()
	return gatewaytest.Start(t, config(), eng, "")
}

// run runs name with args (env added) and returns its output, failing the test when it
// exits non-zero or takes longer than d.
func run(t *testing.T, d time.Duration, env []string, name string, args ...string) string {
	t.Helper()
	return testserver.Run(t, "", env, d, name, args...)
}
