package webhook_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/heraldpush/herald/webhook"
)

func TestSignVerify(t *testing.T) {
	body := []byte(`{"topic":"user:a"}`)
	sig := webhook.Sign("k", body)
	for _, tc := range []struct {
		name, secret, header string
		body                 []byte
		want                 bool
	}{
		{"valid", "k", sig, body, true},
		{"other secret", "x", sig, body, false},
		{"tampered body", "k", sig, []byte(`{"topic":"user:b"}`), false},
		{"empty header", "k", "", body, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := webhook.Verify(tc.secret, tc.body, tc.header); got != tc.want {
				t.Fatalf("Verify = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestDataValue(t *testing.T) {
	for in, want := range map[string]string{`{"a":1}`: `{"a":1}`, `hello`: `"hello"`, ``: `""`, `42`: `42`} {
		if got := string(webhook.DataValue([]byte(in))); got != want {
			t.Errorf("DataValue(%q) = %s, want %s", in, got, want)
		}
	}
}

// TestQueueFullDrops: a full queue drops with a metric instead of blocking the publisher.
func TestQueueFullDrops(t *testing.T) {
	release := make(chan struct{})
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-release }))
	defer ts.Close()
	reg := prometheus.NewRegistry()
	s := webhook.New(webhook.Options{QueueSize: 1, Workers: 1, Registerer: reg})
	target := webhook.Target{URL: ts.URL, Secret: "k", Timeout: 5 * time.Second}
	queued := 0
	for range 5 {
		if s.Enqueue(target, webhook.Payload{Topic: "t", ID: "e"}) {
			queued++
		}
		time.Sleep(20 * time.Millisecond) // let the worker take the first one
	}
	close(release)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s.Close(ctx)
	if queued != 2 {
		t.Fatalf("queued %d, want 2 (one in flight, one waiting)", queued)
	}
	if n := metric(t, reg, "dropped"); n != 3 {
		t.Fatalf("dropped metric %v, want 3", n)
	}
}

func metric(t *testing.T, reg *prometheus.Registry, result string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "herald_webhook_deliveries_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "result" && l.GetValue() == result {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	t.Fatalf("no deliveries metric for %q", result)
	return 0
}
