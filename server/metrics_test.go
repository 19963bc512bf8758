package server_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/heraldpush/herald/engine/memory"
	"github.com/heraldpush/herald/metrics"
	"github.com/heraldpush/herald/server"
)

// scrape reads one sample's value from /metrics ("name" or `name{label="v"}`).
func scrape(t *testing.T, url, series string) float64 {
	t.Helper()
	resp, err := http.Get(url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	re := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(series) + ` ([0-9.e+-]+)$`)
	m := re.FindSubmatch(body)
	if m == nil {
		t.Fatalf("series %s not in /metrics", series)
	}
	v, err := strconv.ParseFloat(string(m[1]), 64)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestMetricsFollowRealTraffic(t *testing.T) {
	met := metrics.New(metrics.Options{})
	cfg := server.Config{MaxQueueBytes: 64 << 10, HistorySize: 5}
	eng := memory.New(memory.Options{Retention: cfg.Retention})
	srv, err := server.New(testConfig(cfg), eng, server.Options{Metrics: met})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(func() { srv.Close(); ts.CloseClientConnections(); ts.Close(); eng.Close() })
	g := &gateway{srv: srv, ts: ts, url: ts.URL, eng: eng}

	if v := scrape(t, g.url, `herald_disconnects_total{reason="slow_consumer"}`); v != 0 {
		t.Fatalf("slow_consumer disconnects before traffic: %v", v)
	}
	a := g.open(t, "/v1/events?topic=m", nil)
	b := g.open(t, "/v1/events?topic=m", nil)
	waitUntil(t, func() bool { return scrape(t, g.url, "herald_connections") == 2 })
	for i := range 3 {
		g.publish(t, "m", "", fmt.Sprint(i), false)
	}
	a.Expect(t, "0", "1", "2")
	b.Expect(t, "0", "1", "2")
	waitUntil(t, func() bool { return scrape(t, g.url, "herald_events_delivered_total") == 6 })
	if v := scrape(t, g.url, "herald_events_published_total"); v != 3 {
		t.Fatalf("published_total = %v, want 3", v)
	}
	if v := scrape(t, g.url, "herald_delivery_latency_seconds_count"); v != 6 {
		t.Fatalf("latency observations = %v, want 6", v)
	}

	// Replay and reset counters.
	r := g.open(t, "/v1/events?topic=m&lastEventID=earliest", nil)
	r.Expect(t, "0", "1", "2")
	waitUntil(t, func() bool { return scrape(t, g.url, "herald_history_replayed_total") == 3 })
	bad := g.open(t, "/v1/events?topic=m", lastEventID("not-a-cursor!"))
	if ev := bad.Next(t); ev.Name != "reset" {
		t.Fatalf("want a reset, got %q", ev.Name)
	}
	waitUntil(t, func() bool { return scrape(t, g.url, `herald_resets_total{reason="malformed"}`) == 1 })

	// A client that never reads is cut off as a slow consumer, and the counter says so.
	raw, err := net.Dial("tcp", strings.TrimPrefix(g.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	raw.(*net.TCPConn).SetReadBuffer(4096)
	fmt.Fprintf(raw, "GET /v1/events?topic=m HTTP/1.1\r\nHost: x\r\n\r\n")
	waitUntil(t, func() bool { return scrape(t, g.url, "herald_connections") == 5 })
	big := strings.Repeat("y", 16<<10)
	for scrape(t, g.url, `herald_disconnects_total{reason="slow_consumer"}`) == 0 {
		g.publish(t, "m", "", big, false)
	}
	// A client that leaves is counted as client_closed (its stream ends once the server sees
	// the close: wait for that, not for the gauge, which agrees with the counters before the
	// close is seen as well as after), and the gauge equals opened minus closed.
	a.Close()
	waitUntil(t, func() bool {
		return scrape(t, g.url, `herald_disconnects_total{reason="client_closed"}`) >= 1
	})
	waitUntil(t, func() bool {
		return scrape(t, g.url, "herald_connections") ==
			scrape(t, g.url, "herald_connections_total")-sumDisconnects(t, g.url)
	})
	// The engine gauge is sampled once a second.
	waitUntil(t, func() bool { return scrape(t, g.url, "herald_engine_up") == 1 })
}

func sumDisconnects(t *testing.T, url string) float64 {
	var sum float64
	for _, r := range []string{"client_closed", "lifetime", "slow_consumer", "shutdown", "final", "error"} {
		sum += scrape(t, url, `herald_disconnects_total{reason="`+r+`"}`)
	}
	return sum
}
