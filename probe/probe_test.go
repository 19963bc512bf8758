package probe_test

import (
	"bytes"
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/heraldpush/herald/engine/memory"
	"github.com/heraldpush/herald/internal/gatewaytest"
	"github.com/heraldpush/herald/internal/testserver"
	"github.com/heraldpush/herald/probe"
	"github.com/heraldpush/herald/server"
)

// startHerald serves a real Herald node (memory engine) on a free loopback port and returns
// its address.
func startHerald(t *testing.T, cfg server.Config) string {
	t.Helper()
	eng := memory.New(memory.Options{Retention: cfg.Retention})
	srv, err := server.New(cfg, eng, server.Options{EngineName: "memory"})
	if err != nil {
		t.Fatalf("server.New: %v", err)
	}
	return gatewaytest.Serve(t, srv, eng)
}

// shortOptions keeps a scenario to a few seconds; the defaults are production-sized.
func shortOptions(url string) probe.Options {
	return probe.Options{
		URL:          url,
		Events:       3,
		EventTimeout: time.Second,
		HeadTimeout:  time.Second,
		Idle:         3 * time.Second,
		Duration:     3 * time.Second,
		Tick:         300 * time.Millisecond,
	}
}

// proxyLocation is the nginx location in front of Herald, with extra directives.
func proxyLocation(upstream, extra string) string {
	return `        location / {
            proxy_pass http://` + upstream + `;
` + extra + `
        }`
}

// goodProxy returns the location directives docs/deploy.md recommends, with the named
// directives replaced by the given lines (each a complete directive).
func goodProxy(replace ...string) string {
	lines := []string{
		"proxy_http_version 1.1;",
		`proxy_set_header Connection "";`,
		"proxy_buffering off;",
		"proxy_cache off;",
		"proxy_read_timeout 1h;",
		"gzip off;",
	}
	for _, r := range replace {
		name := strings.Fields(r)[0]
		found := false
		for i, l := range lines {
			if strings.Fields(l)[0] == name {
				lines[i], found = r, true
			}
		}
		if !found {
			lines = append(lines, r)
		}
	}
	return "            " + strings.Join(lines, "\n            ")
}

// TestProbeThroughNginx runs the probe through a real nginx in front of a real Herald, once
// correctly configured and once for each common mistake, and checks that each is reported
// for what it is.
func TestProbeThroughNginx(t *testing.T) {
	type want struct {
		check  string
		status probe.Status
		figure string // a substring of Result.Figure, when set
	}
	tests := []struct {
		name       string
		heartbeat  time.Duration
		nginx      string // directives of the location; "" means no proxy at all
		maxLife    time.Duration
		eventBytes int
		failed     bool
		want       []want
		detail     map[string]string // check → a substring of its Detail
	}{
		{
			name: "proxy_buffering off passes", heartbeat: time.Second, nginx: goodProxy(),
			want: []want{
				{probe.CheckResponse, probe.Pass, "200"},
				{probe.CheckFirstComment, probe.Pass, ""},
				{probe.CheckContentType, probe.Pass, "text/event-stream"},
				{probe.CheckEncoding, probe.Pass, "(none)"},
				{probe.CheckHTTPVersion, probe.Warn, "HTTP/1.1"}, // plain http: browsers stay on HTTP/1.1
				{probe.CheckUpstreamProto, probe.Pass, "HTTP/1.1"},
				{probe.CheckDelay, probe.Pass, "max"},
				{probe.CheckResumeHeader, probe.Pass, "3 events"},
				{probe.CheckResumeQuery, probe.Pass, "3 events"},
				{probe.CheckIdle, probe.Pass, "heartbeats"},
				{probe.CheckDuration, probe.Pass, "events"},
			},
		},
		{
			// nginx's defaults (HTTP/1.0 to the upstream, buffering on) with Herald's
			// X-Accel-Buffering: no ignored: nginx holds the body until its buffers fill.
			name: "buffering on", heartbeat: time.Second, failed: true,
			nginx: `            proxy_buffering on;
            proxy_ignore_headers X-Accel-Buffering;`,
			want: []want{
				{probe.CheckResponse, probe.Warn, "no head yet"},
				{probe.CheckFirstByte, probe.Fail, "none in"}, // nginx holds the head with the body
				{probe.CheckFirstComment, probe.Fail, "none in"},
				{probe.CheckContentType, probe.Warn, "not measured"},
				{probe.CheckDelay, probe.Fail, ""},
				{probe.CheckResumeHeader, probe.Warn, "not measured"},
				{probe.CheckIdle, probe.Warn, "0 heartbeats"},
				{probe.CheckDuration, probe.Warn, "0/"},
			},
		},
		{
			// The same buffering, with events of 3 KB: nginx passes them on only when its
			// buffer fills, so an event arrives with the next one, in bulk.
			name: "buffering on, large events", heartbeat: time.Second, failed: true, eventBytes: 3000,
			nginx: `            proxy_buffering on;
            proxy_ignore_headers X-Accel-Buffering;`,
			want: []want{
				{probe.CheckDelay, probe.Fail, ""},
			},
			detail: map[string]string{probe.CheckDelay: "in bulk"},
		},
		{
			name: "gzip on for text/event-stream", heartbeat: time.Second,
			nginx: goodProxy("gzip on;", "gzip_types text/event-stream;", "gzip_min_length 1;", "proxy_buffering on;"),
			want: []want{
				{probe.CheckEncoding, probe.Warn, "gzip"},
				{probe.CheckFirstComment, probe.Pass, ""},
				{probe.CheckDelay, probe.Pass, ""},
				{probe.CheckResumeHeader, probe.Pass, ""},
			},
		},
		{
			name: "proxy_read_timeout under the heartbeat", heartbeat: 10 * time.Second, failed: true,
			nginx: goodProxy("proxy_read_timeout 1500ms;"),
			want: []want{
				{probe.CheckDelay, probe.Pass, ""},
				{probe.CheckIdle, probe.Fail, "cut after 1."},
				{probe.CheckDuration, probe.Pass, ""}, // busy streams survive a read timeout
			},
		},
		{
			name: "proxy_http_version 1.0", heartbeat: time.Second,
			nginx: `            proxy_http_version 1.0;
            proxy_buffering off;`,
			want: []want{
				{probe.CheckUpstreamProto, probe.Warn, "HTTP/1.0"},
				{probe.CheckFirstComment, probe.Pass, ""},
				{probe.CheckDelay, probe.Pass, ""},
				{probe.CheckResumeHeader, probe.Pass, ""},
				{probe.CheckIdle, probe.Pass, ""},
			},
		},
		{
			name: "Last-Event-ID dropped", heartbeat: time.Second, failed: true,
			nginx: goodProxy(`proxy_set_header Last-Event-ID "";`),
			want: []want{
				{probe.CheckResumeHeader, probe.Fail, "1 event"},
				{probe.CheckResumeQuery, probe.Pass, "3 events"},
			},
		},
		{
			// No proxy: Herald's own max lifetime ends busy and quiet streams alike, as a
			// route timeout would.
			name: "streams ended early", heartbeat: time.Second, maxLife: 1500 * time.Millisecond, failed: true,
			want: []want{
				{probe.CheckDuration, probe.Fail, "cut after"},
				{probe.CheckIdle, probe.Fail, "cut after"},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			addr := startHerald(t, server.Config{Heartbeat: tt.heartbeat, MaxLifetime: tt.maxLife})
			base := "http://" + addr
			if tt.nginx != "" {
				ng := testserver.Nginx(t, proxyLocation(addr, tt.nginx))
				base = ng.URL()
				t.Cleanup(func() {
					if t.Failed() {
						t.Logf("nginx error log:\n%s", ng.ErrorLog())
					}
				})
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			opts := shortOptions(base + "/v1/events")
			opts.EventBytes = tt.eventBytes
			if tt.eventBytes > 0 {
				opts.Events = 4
			}
			var progress bytes.Buffer // written under the probe's lock, read after Run
			opts.Progress = &progress
			rep, err := probe.Run(ctx, opts)
			if err != nil {
				t.Fatalf("Run: %v", err)
			}
			var table strings.Builder
			_ = rep.WriteTable(&table)
			t.Logf("report:\n%s", table.String())
			if rep.Failed() != tt.failed {
				t.Errorf("Failed() = %v, want %v", rep.Failed(), tt.failed)
			}
			for _, w := range tt.want {
				res, ok := rep.Result(w.check)
				if !ok {
					t.Errorf("check %q missing from the report", w.check)
					continue
				}
				if res.Status != w.status {
					t.Errorf("%s: status %s (%s; %s), want %s", w.check, res.Status, res.Figure, res.Detail, w.status)
				}
				if !strings.Contains(res.Figure, w.figure) {
					t.Errorf("%s: figure %q, want it to contain %q", w.check, res.Figure, w.figure)
				}
				if res.Status != probe.Pass && res.Fix == "" && res.Check != probe.CheckUpstreamProto {
					t.Errorf("%s: %s without a fix", w.check, res.Status)
				}
			}
			for check, want := range tt.detail {
				if res, _ := rep.Result(check); !strings.Contains(res.Detail, want) {
					t.Errorf("%s: detail %q, want it to contain %q", check, res.Detail, want)
				}
			}
			if p := progress.String(); !strings.Contains(p, "\r\033[Kprobing: ") || !strings.Contains(p, "quiet stream") {
				t.Errorf("progress line %q, want \\r-rewritten lines naming the quiet stream", truncate(p, 300))
			}
			if len(rep.Results) != 14 {
				t.Errorf("%d results, want all 14 checks", len(rep.Results))
			}
		})
	}
}

// TestRunRejectsBadOptions checks that bad options are errors before any request.
func TestRunRejectsBadOptions(t *testing.T) {
	tests := []struct {
		name string
		opts probe.Options
		want string
	}{
		{"no URL", probe.Options{}, "no events URL"},
		{"not http", probe.Options{URL: "ftp://example.com/v1/events"}, "want an http"},
		{"no host", probe.Options{URL: "http:///v1/events"}, "want an http"},
		{"bad publish URL", probe.Options{URL: "http://127.0.0.1:1/v1/events", PublishURL: "::"}, "publish URL"},
		{"hostile namespace", probe.Options{URL: "http://127.0.0.1:1/v1/events", Namespace: "a b:c"}, "namespace"},
		{"huge events", probe.Options{URL: "http://127.0.0.1:1/v1/events", EventBytes: 1 << 20}, "event bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := probe.Run(context.Background(), tt.opts)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Run: %v, want an error containing %q", err, tt.want)
			}
			if tt.name == "no URL" && !errors.Is(err, probe.ErrNoURL) {
				t.Errorf("error %v is not ErrNoURL", err)
			}
		})
	}
}

// TestUnreachablePathFailsAtOnce checks that a closed port is one failed check, reported
// without waiting for the long checks.
func TestUnreachablePathFailsAtOnce(t *testing.T) {
	port := testserver.FreePort(t)
	start := time.Now()
	rep, err := probe.Run(context.Background(), probe.Options{URL: "http://127.0.0.1:" + strconv.Itoa(port) + "/v1/events"})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if !rep.Failed() || len(rep.Results) != 1 || rep.Results[0].Check != probe.CheckResponse || rep.Results[0].Fix == "" {
		t.Fatalf("report %+v, want one failed response check with a fix", rep.Results)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("took %s, want an immediate answer", d)
	}
}

// TestPublishURLFollowsTheEventsURL checks the default publish endpoint: the same prefix
// with events → publish, else the origin's /v1/publish; an explicit one is kept.
func TestPublishURLFollowsTheEventsURL(t *testing.T) {
	closed := "127.0.0.1:" + strconv.Itoa(testserver.FreePort(t)) // nothing listens: Run ends at once
	tests := []struct {
		events, publish, want string
	}{
		{"http://" + closed + "/v1/events", "", "http://" + closed + "/v1/publish"},
		{"https://" + closed + "/herald/v1/events?token=x", "", "https://" + closed + "/herald/v1/publish"},
		{"http://" + closed + "/sse", "", "http://" + closed + "/v1/publish"},
		{"http://" + closed + "/v1/events", "http://other.example/pub", "http://other.example/pub"},
	}
	for _, tt := range tests {
		rep, err := probe.Run(context.Background(), probe.Options{URL: tt.events, PublishURL: tt.publish})
		if err != nil {
			t.Fatalf("Run(%s): %v", tt.events, err)
		}
		if rep.PublishURL != tt.want {
			t.Errorf("events %s: publish URL %s, want %s", tt.events, rep.PublishURL, tt.want)
		}
		if strings.Contains(rep.URL, "token=x&") || strings.HasSuffix(rep.URL, "token=x") {
			t.Errorf("report URL %s shows the token", rep.URL)
		}
	}
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
