package testserver

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"
)

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

// HeraldServer is a `herald serve` process built from this module's cmd/herald, owned by one
// test. Use it where a test must drive the real binary with its flags rather than server.New
// in-process.
type HeraldServer struct {
	// URL is the node's base URL, e.g. "http://127.0.0.1:41234".
	URL string
	// Bin is the path of the built binary, for its other subcommands.
	Bin string
}

// Herald builds cmd/herald and starts `herald serve` with args on a free port, with env
// added to its environment, and waits until it is ready. The test's cleanup ends it.
func Herald(tb testing.TB, env []string, args ...string) *HeraldServer {
	tb.Helper()
	bin := BuildHerald(tb)
	n := &HeraldNode{tb: tb, bin: bin, args: args, env: env, port: FreePort(tb), dir: tb.TempDir()}
	n.Start()
	tb.Cleanup(n.Kill)
	return &HeraldServer{URL: n.URL(), Bin: bin}
}

// HeraldNode is a `herald serve` process on a fixed loopback port, which a test can kill
// (SIGKILL) and start again on the same address.
type HeraldNode struct {
	tb   testing.TB
	bin  string
	args []string
	env  []string // added to the environment
	port int
	dir  string

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{}
	log    *os.File
}

// StartHerald starts `bin serve` with args on a free port and waits until it is ready.
func StartHerald(tb testing.TB, bin string, args ...string) *HeraldNode {
	tb.Helper()
	n := &HeraldNode{tb: tb, bin: bin, args: args, port: FreePort(tb), dir: tb.TempDir()}
	n.Start()
	tb.Cleanup(n.Kill)
	return n
}

// URL returns the node's base URL.
func (n *HeraldNode) URL() string { return "http://127.0.0.1:" + strconv.Itoa(n.port) }

// Start starts the node (again) on its address and waits until /readyz answers 200.
func (n *HeraldNode) Start() {
	n.tb.Helper()
	n.mu.Lock()
	if n.cmd != nil {
		n.mu.Unlock()
		n.tb.Fatalf("testserver: herald on port %d already running", n.port)
	}
	logf, err := os.OpenFile(filepath.Join(n.dir, "herald.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		n.mu.Unlock()
		n.tb.Fatalf("testserver: herald log: %v", err)
	}
	args := append([]string{"serve", "--addr", "127.0.0.1:" + strconv.Itoa(n.port)}, n.args...)
	cmd := exec.Command(n.bin, args...)
	cmd.Env = append(os.Environ(), n.env...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		n.mu.Unlock()
		n.tb.Fatalf("testserver: start herald: %v", err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	n.cmd, n.exited, n.log = cmd, exited, logf
	n.mu.Unlock()

	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	client := &http.Client{Timeout: time.Second}
	for {
		if req, err := http.NewRequestWithContext(ctx, http.MethodGet, n.URL()+"/readyz", nil); err == nil {
			if resp, err := client.Do(req); err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					return
				}
			}
		}
		select {
		case <-exited:
			n.tb.Fatalf("testserver: herald on port %d exited while starting; log:\n%s", n.port, n.Log())
		case <-ctx.Done():
			n.tb.Fatalf("testserver: herald on port %d not ready after 15 s; log:\n%s", n.port, n.Log())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// Kill ends the node with SIGKILL — no drain, no goodbye — and waits for it to exit. Killing
// a stopped node does nothing.
func (n *HeraldNode) Kill() {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cmd == nil {
		return
	}
	_ = n.cmd.Process.Kill()
	<-n.exited
	n.log.Close()
	n.cmd, n.exited, n.log = nil, nil, nil
}

// Log returns what the node wrote so far (all its runs).
func (n *HeraldNode) Log() string {
	b, err := os.ReadFile(filepath.Join(n.dir, "herald.log"))
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	return string(b)
}
