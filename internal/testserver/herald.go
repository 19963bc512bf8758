package testserver

import (
	"context"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// HeraldServer is a `herald serve` process built from this module's cmd/herald, owned by one
// test: a free loopback port, stopped by t.Cleanup. Use it where a test must drive the real
// binary with its flags rather than server.New in-process.
type HeraldServer struct {
	// URL is the node's base URL, e.g. "http://127.0.0.1:41234".
	URL string
	// Bin is the path of the built binary, for its other subcommands.
	Bin string
}

// BuildHerald compiles cmd/herald into a temporary directory of tb and returns its path.
func BuildHerald(tb testing.TB) string {
	tb.Helper()
	goBin := RequireBinary(tb, "go", "golang-go")
	bin := filepath.Join(tb.TempDir(), "herald")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, goBin, "build", "-o", bin, "github.com/heraldpush/herald/cmd/herald")
	if out, err := cmd.CombinedOutput(); err != nil {
		tb.Fatalf("testserver: go build cmd/herald: %v\n%s", err, out)
	}
	return bin
}

// Herald builds cmd/herald and starts `herald serve --addr 127.0.0.1:<free port> args…` with
// env added to the environment, and waits until /healthz answers.
func Herald(tb testing.TB, env []string, args ...string) *HeraldServer {
	tb.Helper()
	bin := BuildHerald(tb)
	port := FreePort(tb)
	s := &HeraldServer{URL: "http://127.0.0.1:" + strconv.Itoa(port), Bin: bin}
	cmd := exec.Command(bin, append([]string{"serve", "--addr", "127.0.0.1:" + strconv.Itoa(port)}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	logs, err := os.Create(filepath.Join(tb.TempDir(), "herald.log"))
	if err != nil {
		tb.Fatalf("testserver: %v", err)
	}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		tb.Fatalf("testserver: start herald serve: %v", err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	tb.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		logs.Close()
	})
	deadline := time.Now().Add(15 * time.Second)
	for {
		res, err := http.Get(s.URL + "/healthz")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return s
			}
		}
		select {
		case <-exited:
			out, _ := os.ReadFile(logs.Name())
			tb.Fatalf("testserver: herald serve exited at start-up:\n%s", out)
		default:
		}
		if time.Now().After(deadline) {
			out, _ := os.ReadFile(logs.Name())
			tb.Fatalf("testserver: herald serve not healthy within 15s: %v\n%s", err, out)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
