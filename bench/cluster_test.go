package bench

import (
	"context"
	"testing"
	"time"

	"github.com/heraldpush/herald"
	natsengine "github.com/heraldpush/herald/engine/nats"
	redisengine "github.com/heraldpush/herald/engine/redis"
	"github.com/heraldpush/herald/internal/clustertest"
	"github.com/heraldpush/herald/internal/testserver"
	"github.com/heraldpush/herald/server"
)

// TestReconnectAcrossNodes runs reconnect mode against three real Herald nodes over one real
// broker: every subscriber's streams after the first go to a random node with its cursor,
// publishes go round-robin to the nodes. Nothing may be lost or duplicated, and no reset
// may come: a node that lags behind a client's cursor catches up (hub/stitch_stream.go).
func TestReconnectAcrossNodes(t *testing.T) {
	brokers := []struct {
		name   string
		broker func(t *testing.T) clustertest.Broker
	}{
		{"redis", func(t *testing.T) clustertest.Broker {
			rs := testserver.Redis(t)
			return clustertest.Broker{NewEngine: func(t *testing.T, cfg server.Config) herald.Engine {
				e, err := redisengine.New(context.Background(), redisengine.Options{URL: rs.URL(), Retention: cfg.Retention,
					HealthCheckInterval: time.Second})
				if err != nil {
					t.Fatal(err)
				}
				return e
			}}
		}},
		{"nats", func(t *testing.T) clustertest.Broker {
			ns := testserver.NATS(t)
			return clustertest.Broker{NewEngine: func(t *testing.T, cfg server.Config) herald.Engine {
				e, err := natsengine.New(context.Background(), natsengine.Options{URL: ns.URL(), Retention: cfg.Retention})
				if err != nil {
					t.Fatal(err)
				}
				return e
			}}
		}},
	}
	for _, b := range brokers {
		t.Run(b.name, func(t *testing.T) {
			nodes := clustertest.StartNodes(t, b.broker(t), 3, server.Config{})
			urls := make([]string, len(nodes))
			for i, n := range nodes {
				urls[i] = n.URL
			}
			const conns, rate = 60, 50
			res := runBench(t, Config{Mode: ModeReconnect, Servers: urls, PublishRoundRobin: true, Conns: conns,
				Rate: rate, Duration: 2 * time.Second, Churn: 150 * time.Millisecond, TopicPrefix: "bench-" + b.name})
			if res.Connected != conns || res.Published != 2*rate || res.PublishErrors != 0 {
				t.Fatalf("connected %d, published %d (%d errors: %s); want %d, %d, 0",
					res.Connected, res.Published, res.PublishErrors, res.LastError, conns, 2*rate)
			}
			if res.Drops < conns || res.Hops < conns/2 {
				t.Fatalf("%d drops, %d hops to another node; the test wants subscribers hopping", res.Drops, res.Hops)
			}
			if res.Lost != 0 || res.Duplicated != 0 || res.Incomplete != 0 {
				t.Fatalf("lost %d, duplicated %d, incomplete %d (resets %d %v, last error %q); want zeros",
					res.Lost, res.Duplicated, res.Incomplete, res.Resets, res.ResetReasons, res.LastError)
			}
			var byReason uint64
			for _, n := range res.ResetReasons {
				byReason += n
			}
			if byReason != res.Resets {
				t.Fatalf("resets %d, by reason %v", res.Resets, res.ResetReasons)
			}
			// Every event is received once per subscriber, replays after resets aside.
			if want := uint64(conns) * res.Published; res.Deliveries != want+res.ResetReplayed-res.ResetSkipped {
				t.Fatalf("deliveries %d, want %d + %d replayed − %d skipped", res.Deliveries, want, res.ResetReplayed, res.ResetSkipped)
			}
			if res.Resets > 0 {
				t.Fatalf("%d resets (%v): %d events skipped, %d replayed; no cursor was foreign, so none is acceptable",
					res.Resets, res.ResetReasons, res.ResetSkipped, res.ResetReplayed)
			}
		})
	}
}
