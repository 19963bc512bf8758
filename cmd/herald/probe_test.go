package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/heraldpush/herald/internal/gatewaytest"
	"github.com/heraldpush/herald/probe"
	"github.com/heraldpush/herald/server"
)

// TestProbeCommand runs `herald probe` against a real gateway: a healthy path exits 0 with
// a table or JSON, a path whose streams end early exits 1, and a missing URL is a usage
// error (2).
func TestProbeCommand(t *testing.T) {
	gateway := func(cfg server.Config) string { return gatewaytest.Memory(t, cfg) }
	healthy := gateway(server.Config{Heartbeat: 300 * time.Millisecond})
	cut := gateway(server.Config{Heartbeat: 300 * time.Millisecond, MaxLifetime: 700 * time.Millisecond})
	short := []string{"--idle", "1500ms", "--duration", "1500ms", "--tick", "200ms", "--events", "2", "--event-timeout", "1s", "--head-timeout", "1s"}

	tests := []struct {
		name   string
		args   []string
		code   int
		stdout string // a substring of stdout
		stderr string // a substring of stderr
	}{
		{"healthy table", append([]string{"probe", healthy + "/v1/events"}, short...), 0, "0 failed", ""},
		{"flags before the URL", append(append([]string{"probe"}, short...), healthy+"/v1/events"), 0, "quiet stream", ""},
		{"healthy json", append([]string{"probe", healthy + "/v1/events", "--json"}, short...), 0, `"status": "pass"`, ""},
		{"streams cut", append([]string{"probe", cut + "/v1/events"}, short...), 1, "FAIL", "at least one check failed"},
		{"no URL", []string{"probe", "--idle", "1s"}, 2, "", "the events URL is required"},
		{"bad URL", []string{"probe", "ftp://example.com/v1/events"}, 2, "", "want an http"},
		{"two URLs", []string{"probe", healthy + "/v1/events", "extra"}, 2, "", "unexpected argument"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			var stdout, stderr bytes.Buffer
			if code := run(ctx, tt.args, &stdout, &stderr); code != tt.code {
				t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tt.code, stdout.String(), stderr.String())
			}
			if !strings.Contains(stdout.String(), tt.stdout) || !strings.Contains(stderr.String(), tt.stderr) {
				t.Fatalf("stdout:\n%s\nstderr:\n%s\nwant %q and %q", stdout.String(), stderr.String(), tt.stdout, tt.stderr)
			}
			if tt.name == "healthy json" {
				var rep probe.Report
				if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
					t.Fatalf("--json output: %v", err)
				}
				if len(rep.Results) != 14 || rep.Failed() {
					t.Fatalf("--json report: %d results, failed %v", len(rep.Results), rep.Failed())
				}
			}
		})
	}
}
