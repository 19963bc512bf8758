package presence_test

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/heraldpush/herald"
	"github.com/heraldpush/herald/engine/redis"
	"github.com/heraldpush/herald/internal/testserver"
	"github.com/heraldpush/herald/presence"
)

// TestStoreErrorsAreCounted takes a real Redis store away and checks that failed reads and
// writes show in herald_presence_store_errors_total, which starts at zero for both ops.
func TestStoreErrorsAreCounted(t *testing.T) {
	srv := testserver.Redis(t)
	ctx := context.Background()
	eng, err := redis.New(ctx, redis.Options{URL: srv.URL()})
	if err != nil {
		t.Fatalf("redis engine: %v", err)
	}
	t.Cleanup(func() { eng.Close() })
	reg := prometheus.NewRegistry()
	tr, err := presence.New(presence.Options{Store: eng.Presence(), Heartbeat: 100 * time.Millisecond, Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	tr.Start()
	t.Cleanup(tr.Abandon)
	count := func(op string) float64 {
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatalf("gather: %v", err)
		}
		for _, mf := range mfs {
			if mf.GetName() != "herald_presence_store_errors_total" {
				continue
			}
			for _, m := range mf.Metric {
				if m.Label[0].GetValue() == op {
					return m.Counter.GetValue()
				}
			}
		}
		t.Fatalf("herald_presence_store_errors_total{op=%q} missing", op)
		return 0
	}
	if count("write") != 0 || count("read") != 0 {
		t.Fatal("errors counted before any failure")
	}
	if _, err := tr.Topic(ctx, "a:1"); err != nil {
		t.Fatalf("read with Redis up: %v", err)
	}
	if count("read") != 0 {
		t.Fatal("a successful read was counted as an error")
	}

	srv.Kill()
	rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if _, err := tr.Topic(rctx, "a:1"); err == nil {
		t.Fatal("read with Redis down succeeded")
	}
	if got := count("read"); got != 1 {
		t.Errorf("read errors %v, want 1", got)
	}
	tr.Join("u", []herald.Topic{"a:1"})
	deadline := time.Now().Add(15 * time.Second)
	for count("write") == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no write error counted within 15s of Redis going away")
		}
		time.Sleep(50 * time.Millisecond)
	}
}
