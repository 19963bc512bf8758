package testserver

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/heraldpush/herald/internal/syncbuf"
)

// Process is a program a test started in its own process group (a Celery worker, an
// example's server), its output collected; the test's cleanup ends the group.
type Process struct {
	cmd  *exec.Cmd
	out  *syncbuf.Buffer
	done chan struct{}
}

// StartProcess starts name with args in dir, with env added to the environment. It is
// stopped (SIGTERM to its group, SIGKILL after 10 s) when the test ends.
func StartProcess(tb testing.TB, dir string, env []string, name string, args ...string) *Process {
	tb.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	out := &syncbuf.Buffer{}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		tb.Fatalf("testserver: start %s: %v", name, err)
	}
	p := &Process{cmd: cmd, out: out, done: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		close(p.done)
	}()
	tb.Cleanup(p.Stop)
	return p
}

// Output returns what the process printed so far.
func (p *Process) Output() string { return p.out.String() }

// Stop ends the process group and waits for the process; stopping twice does no harm.
func (p *Process) Stop() {
	pgid := -p.cmd.Process.Pid
	_ = syscall.Kill(pgid, syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		_ = syscall.Kill(pgid, syscall.SIGKILL)
		<-p.done
	}
}

// WaitOutput waits until the process printed s, failing the test when it exits first or d
// passes.
func (p *Process) WaitOutput(tb testing.TB, s string, d time.Duration) {
	tb.Helper()
	p.WaitUntil(tb, fmt.Sprintf("printed %q", s), d, func() bool { return strings.Contains(p.out.String(), s) }, nil)
}

// WaitUntil polls ready until it reports true, failing the test when the process exits first
// or d passes; the failure shows what it waited for, the process's output and, when given,
// more() (a log file the process writes, say).
func (p *Process) WaitUntil(tb testing.TB, what string, d time.Duration, ready func() bool, more func() string) {
	tb.Helper()
	report := func() string {
		s := p.out.String()
		if more != nil {
			s += "\n" + more()
		}
		return s
	}
	deadline := time.Now().Add(d)
	for !ready() {
		select {
		case <-p.done:
			tb.Fatalf("testserver: %s exited before it %s; output:\n%s", p.cmd.Path, what, report())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			tb.Fatalf("testserver: %s had not %s after %v; output:\n%s", p.cmd.Path, what, d, report())
		}
	}
}

// Run runs name with args in dir (env added) to its end and returns its output, failing the
// test when it exits non-zero or takes longer than d.
func Run(tb testing.TB, dir string, env []string, d time.Duration, name string, args ...string) string {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		tb.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out.String())
	}
	return out.String()
}
