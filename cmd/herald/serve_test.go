package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/heraldpush/herald/internal/syncbuf"
)

func TestServeConfigLayers(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "herald.yaml")
	os.WriteFile(file, []byte(`
addr: 127.0.0.1:9001
history_size: 500
heartbeat: 20s
retry: 3s
cors_origin: [https://a.example, https://b.example]
namespaces:
  scan: {replay: all, history_size: 100, history_ttl: 10m}
`), 0o600)
	cases := []struct {
		name string
		env  map[string]string
		args []string
		want func(t *testing.T, c serveConfig)
	}{
		{"file only", nil, []string{"--config", file}, func(t *testing.T, c serveConfig) {
			if c.Addr != "127.0.0.1:9001" || c.HistorySize != 500 || c.Heartbeat != 20*time.Second || c.Retry != 3*time.Second {
				t.Errorf("file values not applied: %+v", c.Config)
			}
			if len(c.CORSOrigins) != 2 || c.Namespaces["scan"].Replay != "all" || c.Namespaces["scan"].HistoryTTL != 10*time.Minute {
				t.Errorf("lists or namespaces not applied: %v %+v", c.CORSOrigins, c.Namespaces)
			}
			if c.HistoryTTL != time.Hour || c.Drain != 5*time.Second {
				t.Errorf("defaults lost under the file: ttl %s drain %s", c.HistoryTTL, c.Drain)
			}
		}},
		{"env over file", map[string]string{"HERALD_HISTORY_SIZE": "700", "HERALD_CORS_ORIGIN": "https://c.example"},
			[]string{"--config=" + file}, func(t *testing.T, c serveConfig) {
				if c.HistorySize != 700 || c.Heartbeat != 20*time.Second {
					t.Errorf("history_size %d heartbeat %s", c.HistorySize, c.Heartbeat)
				}
				if len(c.CORSOrigins) != 1 || c.CORSOrigins[0] != "https://c.example" {
					t.Errorf("env list did not replace the file's: %v", c.CORSOrigins)
				}
			}},
		{"flags over env", map[string]string{"HERALD_HISTORY_SIZE": "700", "HERALD_CONFIG": file},
			[]string{"--history-size", "900", "--cors-origin", "https://d.example", "--cors-origin", "https://e.example"},
			func(t *testing.T, c serveConfig) {
				if c.HistorySize != 900 || c.Addr != "127.0.0.1:9001" {
					t.Errorf("history_size %d addr %s", c.HistorySize, c.Addr)
				}
				if strings.Join(c.CORSOrigins, " ") != "https://d.example https://e.example" {
					t.Errorf("repeated flag: %v", c.CORSOrigins)
				}
			}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			var cfg serveConfig
			fs := serveFlags(&cfg)
			fs.SetOutput(io.Discard)
			if err := layeredFlags(fs, tc.args, &cfg); err != nil {
				t.Fatal(err)
			}
			tc.want(t, cfg)
		})
	}
}

func TestServeConfigErrors(t *testing.T) {
	dir := t.TempDir()
	typo := filepath.Join(dir, "typo.yaml")
	os.WriteFile(typo, []byte("histroy_size: 5\n"), 0o600)
	badNS := filepath.Join(dir, "ns.yaml")
	os.WriteFile(badNS, []byte("namespaces: {scan: {replay: sometimes}}\n"), 0o600)
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"unknown yaml key", []string{"--config", typo}, "histroy_size"},
		{"missing file", []string{"--config", filepath.Join(dir, "nope.yaml")}, "read config"},
		{"bad duration", []string{"--heartbeat", "soon"}, "heartbeat"},
		{"bad engine", []string{"--engine", "kafka"}, "unknown engine"},
		{"bad namespace", []string{"--config", badNS}, "replay"},
		{"bad log level", []string{"--log-level", "loud"}, "log-level"},
		{"tls half", []string{"--tls-cert", "x.pem"}, "tls"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := runServe(context.Background(), append(tc.args, "--addr", "127.0.0.1:0"), io.Discard, io.Discard)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one mentioning %q", err, tc.want)
			}
			var ue usageError
			if !errors.As(err, &ue) && !strings.Contains(err.Error(), "read config") {
				t.Errorf("error %v is not a usage error (exit status 2)", err)
			}
		})
	}
	if err := runServe(context.Background(), []string{"-h"}, io.Discard, io.Discard); !errors.Is(err, flag.ErrHelp) {
		t.Errorf("-h: %v", err)
	}
}

// syncBuffer is a concurrency-safe log sink.
type syncBuffer = syncbuf.Buffer

// TestServeRunsAndDrains runs the real serve command: it says where it listens and which
// engine it runs, serves a stream, the pages and metrics, and on cancellation (SIGTERM in
// the binary) ends the stream and returns nil (exit status 0).
func TestServeRunsAndDrains(t *testing.T) {
	logs := &syncBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- runServe(ctx, []string{"--addr", "127.0.0.1:0", "--drain", "200ms"}, io.Discard, logs)
	}()
	re := regexp.MustCompile(`msg="herald is serving" url=(http://[0-9.:]+) engine=memory`)
	var base string
	deadline := time.Now().Add(10 * time.Second)
	for base == "" {
		if m := re.FindStringSubmatch(logs.String()); m != nil {
			base = m[1]
		}
		if time.Now().After(deadline) {
			t.Fatalf("no start-up line naming the URL and engine; logs:\n%s", logs)
		}
		time.Sleep(10 * time.Millisecond)
	}
	for _, path := range []string{"/healthz", "/readyz", "/metrics", "/", "/demo", "/dashboard"} {
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("GET %s: %d", path, resp.StatusCode)
		}
	}
	resp, err := http.Get(base + "/v1/events?topic=cli")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	br := bufio.NewReader(resp.Body)
	if line, _ := br.ReadString('\n'); !strings.HasPrefix(line, ":") {
		t.Fatalf("stream starts with %q", line)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("serve returned %v, want nil after a drain", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("serve did not return after cancellation")
	}
	if _, err := io.Copy(io.Discard, br); err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Logf("stream end: %v", err)
	}
	if !strings.Contains(logs.String(), "draining streams") {
		t.Errorf("no drain line in the logs:\n%s", logs)
	}
}
