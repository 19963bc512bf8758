package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/heraldpush/herald/internal/gatewaytest"
	"github.com/heraldpush/herald/server"
)

// startTestGateway runs a real gateway (memory engine) for the CLI tests.
func startTestGateway(t *testing.T) string {
	t.Helper()
	return gatewaytest.Memory(t, server.Config{Retry: 50 * time.Millisecond})
}

func TestPublishSubscribeCLI(t *testing.T) {
	url := startTestGateway(t)
	t.Setenv("HERALD_SERVER", url)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	var ids []string
	for _, args := range [][]string{
		{"publish", "--topic", "task:1", "--event", "progress", "--data", `{"pct": 50}`},
		{"publish", "--topic", "task:1", "--data", "plain text, not JSON"},
		{"publish", "--server", url, "--topic", "task:1", "--event", "done", "--data", `"ok"`, "--final"},
	} {
		var stdout, stderr bytes.Buffer
		if code := run(ctx, args, &stdout, &stderr); code != 0 {
			t.Fatalf("%v: exit %d: %s", args, code, stderr.String())
		}
		ids = append(ids, strings.TrimSpace(stdout.String()))
	}

	// The topic is closed: subscribe replays it and exits 0 on the gateway's 204.
	var stdout, stderr bytes.Buffer
	if code := run(ctx, []string{"subscribe", "--topic", "task:1", "--last-event-id", "earliest"}, &stdout, &stderr); code != 0 {
		t.Fatalf("subscribe: exit %d: %s", code, stderr.String())
	}
	want := []string{
		`{"id":"` + ids[0] + `","event":"progress","data":{"pct":50}}`,
		`{"id":"` + ids[1] + `","event":"","data":"plain text, not JSON"}`,
		`{"id":"` + ids[2] + `","event":"done","data":"ok"}`,
	}
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	if len(lines) != len(want) {
		t.Fatalf("subscribe printed %q", stdout.String())
	}
	for i := range want {
		var got, w any
		json.Unmarshal([]byte(lines[i]), &got)
		json.Unmarshal([]byte(want[i]), &w)
		g, _ := json.Marshal(got)
		ww, _ := json.Marshal(w)
		if string(g) != string(ww) {
			t.Errorf("line %d = %s, want %s", i, lines[i], want[i])
		}
	}

	// Publishing to the closed topic fails with the gateway's error.
	stderr.Reset()
	if code := run(ctx, []string{"publish", "--topic", "task:1", "--data", "1"}, &stdout, &stderr); code != 1 || !strings.Contains(stderr.String(), "409") {
		t.Fatalf("publish to closed topic: exit %d, %s", code, stderr.String())
	}
}

func TestSubscribeCLIStopsOnCancel(t *testing.T) {
	url := startTestGateway(t)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	var stdout, stderr bytes.Buffer
	if code := run(ctx, []string{"subscribe", "--server", url, "--topic", "idle:1"}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
}
