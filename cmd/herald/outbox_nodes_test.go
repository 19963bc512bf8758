package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/heraldpush/herald/internal/testserver"
)

// childEnv makes the test binary run as the herald command (the node processes below):
// its value is the arguments as a JSON array.
const childEnv = "HERALD_TEST_RUN_AS_HERALD"

func TestMain(m *testing.M) {
	if env := os.Getenv(childEnv); env != "" {
		var args []string
		if err := json.Unmarshal([]byte(env), &args); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		code := run(ctx, args, os.Stdout, os.Stderr)
		stop()
		os.Exit(code)
	}
	os.Exit(m.Run())
}

// heraldNode is a `herald serve` process (this test binary re-executed).
type heraldNode struct {
	base string
	cmd  *exec.Cmd
	done chan struct{}
	log  *syncBuffer
}

func startNode(t *testing.T, args ...string) *heraldNode {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	port := testserver.FreePort(t)
	args = append([]string{"serve", "--addr", "127.0.0.1:" + strconv.Itoa(port), "--drain", "100ms"}, args...)
	n := &heraldNode{base: "http://127.0.0.1:" + strconv.Itoa(port), done: make(chan struct{}), log: &syncBuffer{}}
	n.cmd = exec.Command(exe, "-test.run=^$")
	spec, _ := json.Marshal(args)
	n.cmd.Env = append(os.Environ(), childEnv+"="+string(spec))
	n.cmd.Stdout, n.cmd.Stderr = io.Discard, n.log
	if err := n.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = n.cmd.Wait(); close(n.done) }()
	t.Cleanup(n.kill)
	deadline := time.Now().Add(20 * time.Second)
	for {
		if resp, err := http.Get(n.base + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return n
			}
		}
		select {
		case <-n.done:
			t.Fatalf("herald node exited early:\n%s", n.log)
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("herald node not ready within 20s:\n%s", n.log)
		}
	}
}

// kill ends the node with SIGKILL, as a crash would, and waits for it.
func (n *heraldNode) kill() {
	_ = n.cmd.Process.Signal(syscall.SIGKILL)
	<-n.done
}

// serving reports the node's herald_outbox_serving gauge.
func (n *heraldNode) serving() bool {
	resp, err := http.Get(n.base + "/metrics")
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return strings.Contains(string(b), `herald_outbox_serving{table="herald_outbox"} 1`)
}

// TestOutboxNodesFailOver runs two `herald serve` processes on one Redis with the outbox
// rule: exactly one serves the outbox; a subscriber on the other node gets the rows; after
// the serving node is killed (SIGKILL) the other takes over within seconds and the
// subscriber gets every row exactly once, in order.
func TestOutboxNodesFailOver(t *testing.T) {
	rds := testserver.Redis(t)
	pg := testserver.Postgres(t)
	if code := run(t.Context(), []string{"outbox", "init", "--dsn", pg.DSN()}, io.Discard, io.Discard); code != 0 {
		t.Fatal("outbox init failed")
	}
	cfgPath := filepath.Join(t.TempDir(), "herald.yaml")
	if err := os.WriteFile(cfgPath, []byte("bridge:\n  - outbox: {poll: 100ms}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv(outboxDSNEnv, pg.DSN())
	args := []string{"--config", cfgPath, "--engine", "redis", "--redis-url", rds.URL()}
	nodes := []*heraldNode{startNode(t, args...), startNode(t, args...)}
	servingNodes := func() []int {
		var s []int
		for i, n := range nodes {
			if n.serving() {
				s = append(s, i)
			}
		}
		return s
	}
	waitFor(t, 20*time.Second, "one node serves the outbox", func() bool { return len(servingNodes()) == 1 })
	for range 5 { // and stays the only one over several lock retries
		time.Sleep(300 * time.Millisecond)
		if s := servingNodes(); len(s) != 1 {
			t.Fatalf("nodes %v serve the outbox; want exactly one", s)
		}
	}
	leader := servingNodes()[0]
	other := nodes[1-leader]

	// The subscriber is on the node that does not serve: events cross the cluster.
	resp, err := http.Get(other.base + "/v1/events?topic=raffle:9")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data := make(chan string, 64)
	go func() {
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			if l, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
				data <- l
			}
		}
		close(data)
	}()
	db, err := pgx.Connect(t.Context(), pg.DSN())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close(context.Background())
	var got, want []string
	insert := func(from, to int) {
		for i := from; i <= to; i++ {
			if _, err := db.Exec(t.Context(), `INSERT INTO herald_outbox (topic, event, data) VALUES ('raffle:9', 'odds', $1::jsonb)`, strconv.Itoa(i)); err != nil {
				t.Fatal(err)
			}
			want = append(want, strconv.Itoa(i))
		}
	}
	receive := func(what string) {
		timeout := time.After(15 * time.Second)
		for len(got) < len(want) {
			select {
			case d, ok := <-data:
				if !ok {
					t.Fatalf("stream ended after %q", got)
				}
				got = append(got, d)
			case <-timeout:
				t.Fatalf("%s: got %q, want %q", what, got, want)
			}
		}
		if !slices.Equal(got, want) {
			t.Fatalf("%s: got %q, want %q", what, got, want)
		}
	}
	insert(1, 5)
	receive("before the kill")

	nodes[leader].kill()
	start := time.Now()
	insert(6, 10)
	waitFor(t, 20*time.Second, "the surviving node serves", other.serving)
	receive("after the kill")
	t.Logf("the surviving node delivered again %v after the kill", time.Since(start).Round(time.Millisecond))
	// Nothing more arrives: each row exactly once.
	select {
	case d := <-data:
		t.Fatalf("an extra event %q after all rows", d)
	case <-time.After(300 * time.Millisecond):
	}
	var left int
	if err := db.QueryRow(t.Context(), "SELECT count(*) FROM herald_outbox").Scan(&left); err != nil || left != 0 {
		t.Fatalf("%d rows left in the outbox (%v)", left, err)
	}
}

// waitFor polls cond every 20 ms until it holds or timeout passes (then fails).
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %v: %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
