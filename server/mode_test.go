package server_test

import (
	"os"
	"os/exec"
	"testing"

	"github.com/heraldpush/herald/server"
)

// noHijackEnv, set to 1, runs the package's tests with every stream on its handler
// goroutine (Config.NoHijack). By default plain HTTP/1.1 streams are detached to the hub's
// writer pool, so the suite covers that path; TestGoroutineMode covers the other.
const noHijackEnv = "HERALD_TEST_NO_HIJACK"

// testConfig applies the stream mode under test to cfg.
func testConfig(cfg server.Config) server.Config {
	if os.Getenv(noHijackEnv) == "1" {
		cfg.NoHijack = true
	}
	return cfg
}

// TestGoroutineMode runs this package's whole suite again with Config.NoHijack, in a child
// process of the test binary, so both stream modes pass the same tests.
func TestGoroutineMode(t *testing.T) {
	if os.Getenv(noHijackEnv) == "1" {
		t.Skip("this is the goroutine-mode run")
	}
	if testing.Short() {
		t.Skip("short mode")
	}
	args := []string{"-test.count=1"}
	if testing.Verbose() {
		args = append(args, "-test.v")
	}
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), noHijackEnv+"=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("goroutine-mode suite failed: %v\n%s", err, out)
	}
	t.Logf("goroutine-mode suite passed:\n%s", out)
}
