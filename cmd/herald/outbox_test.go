package main

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/heraldpush/herald/internal/testserver"
)

func TestOutboxInitCommand(t *testing.T) {
	pg := testserver.Postgres(t)
	t.Setenv(outboxDSNEnv, "")
	tests := []struct {
		name string
		args []string
		code int
		out  string // in stdout (code 0) or stderr
	}{
		{"print", []string{"outbox", "init", "--print", "--table", "events"}, 0, "CREATE TABLE IF NOT EXISTS events_dead"},
		{"no dsn", []string{"outbox", "init"}, 2, "--dsn"},
		{"bad table", []string{"outbox", "init", "--dsn", pg.DSN(), "--table", "Bad-Name"}, 2, "lower-case"},
		{"no subcommand", []string{"outbox"}, 2, "init"},
		{"unreachable", []string{"outbox", "init", "--dsn", "postgres://nobody@127.0.0.1:1/x?connect_timeout=2"}, 1, "connect"},
		{"init", []string{"outbox", "init", "--dsn", pg.DSN()}, 0, "outbox ready: herald_outbox and herald_outbox_dead, with the NOTIFY trigger"},
		{"again", []string{"outbox", "init", "--dsn", pg.DSN()}, 0, "outbox ready"},
		{"no trigger", []string{"outbox", "init", "--dsn", pg.DSN(), "--notify=false"}, 0, "without a NOTIFY trigger"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(t.Context(), tt.args, &stdout, &stderr)
			got := stdout.String()
			if tt.code != 0 {
				got = stderr.String()
			}
			if code != tt.code || !strings.Contains(got, tt.out) {
				t.Fatalf("exit %d (want %d); stdout %q stderr %q; want %q", code, tt.code, stdout.String(), stderr.String(), tt.out)
			}
		})
	}
}

// TestServeDeliversTheOutbox runs the real serve command with an outbox rule whose DSN comes
// from HERALD_OUTBOX_DSN: a row committed in PostgreSQL reaches an SSE stream, and the
// outbox metrics count it.
func TestServeDeliversTheOutbox(t *testing.T) {
	pg := testserver.Postgres(t)
	var stdout, stderr bytes.Buffer
	if code := run(t.Context(), []string{"outbox", "init", "--dsn", pg.DSN()}, &stdout, &stderr); code != 0 {
		t.Fatalf("outbox init: %s", stderr.String())
	}
	cfgPath := filepath.Join(t.TempDir(), "herald.yaml")
	if err := os.WriteFile(cfgPath, []byte("bridge:\n  - outbox: {table: herald_outbox, poll: 100ms}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv(outboxDSNEnv, pg.DSN())
	logs := &syncBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- runServe(ctx, []string{"--config", cfgPath, "--addr", "127.0.0.1:0", "--drain", "100ms"}, io.Discard, logs)
	}()
	defer func() {
		cancel()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			t.Error("serve did not return")
		}
	}()
	re := regexp.MustCompile(`msg="herald is serving" url=(http://[0-9.:]+)`)
	var base string
	deadline := time.Now().Add(20 * time.Second)
	for base == "" || !strings.Contains(logs.String(), "outbox: serving the table") {
		if m := re.FindStringSubmatch(logs.String()); m != nil {
			base = m[1]
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve did not start serving the outbox; logs:\n%s", logs)
		}
		time.Sleep(10 * time.Millisecond)
	}
	resp, err := http.Get(base + "/v1/events?topic=order:42")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	db, err := pgx.Connect(t.Context(), pg.DSN())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close(context.Background())
	if _, err := db.Exec(t.Context(), `INSERT INTO herald_outbox (topic, event, data) VALUES ('order:42', 'paid', '{"total": 12.5}')`); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	var got []string
	timeout := time.After(20 * time.Second)
	for len(got) < 2 {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("stream ended; got %q", got)
			}
			if strings.HasPrefix(l, "event:") || strings.HasPrefix(l, "data:") {
				got = append(got, l)
			}
		case <-timeout:
			t.Fatalf("no event within 20s; got %q; logs:\n%s", got, logs)
		}
	}
	if want := []string{"event: paid", `data: {"total":12.5}`}; got[0] != want[0] || got[1] != want[1] {
		t.Errorf("stream = %q; want %q", got, want)
	}
	// The rows are settled (and counted) just after the store that the stream saw.
	wantMetrics := []string{
		`herald_outbox_rows_delivered_total{table="herald_outbox"} 1`,
		`herald_outbox_serving{table="herald_outbox"} 1`,
		`herald_outbox_dead_rows_total{table="herald_outbox"} 0`,
	}
	deadline = time.Now().Add(20 * time.Second)
	for {
		mresp, err := http.Get(base + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(mresp.Body)
		mresp.Body.Close()
		missing := ""
		for _, want := range wantMetrics {
			if !strings.Contains(string(body), want) {
				missing = want
			}
		}
		if missing == "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("metrics lack %q", missing)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
