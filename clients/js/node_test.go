package js_test

import (
	"context"
	"os/exec"
	"testing"
	"time"
)

// TestNodeUnit runs the library's unit tests (test/*.test.js) with Node's built-in runner, so
// that they report through go test. A missing node fails: scripts/test installs nodejs.
func TestNodeUnit(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatalf("node not found (install Debian's nodejs): %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "--test", "test/")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("node --test test/: %v\n%s", err, out)
	}
	t.Logf("node --test test/: passed\n%s", tail(out, 400))
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}
