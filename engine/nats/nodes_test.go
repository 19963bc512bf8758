package natsengine_test

import (
	"context"
	"testing"
	"time"

	"github.com/heraldpush/herald"
	natsengine "github.com/heraldpush/herald/engine/nats"
	"github.com/heraldpush/herald/internal/clustertest"
	"github.com/heraldpush/herald/internal/testserver"
	"github.com/heraldpush/herald/server"
)

// TestHeraldNodes runs three full Herald HTTP nodes over one real nats-server -js.
func TestHeraldNodes(t *testing.T) {
	ns := testserver.NATS(t)
	clustertest.Run(t, clustertest.Broker{
		NewEngine: func(t *testing.T, cfg server.Config) herald.Engine {
			e, err := natsengine.New(context.Background(), natsengine.Options{URL: ns.URL(), Retention: cfg.Retention})
			if err != nil {
				t.Fatal(err)
			}
			return e
		},
		Stop:  func(*testing.T) { ns.Stop() },
		Start: func(*testing.T) { ns.Start(); time.Sleep(100 * time.Millisecond) },
	})
}

// TestHeraldNodesOnNATSCluster runs the same scenarios with each Herald node connected to a
// different server of a three-server NATS cluster (routes on loopback).
func TestHeraldNodesOnNATSCluster(t *testing.T) {
	servers := testserver.NATSCluster(t, 3)
	var next int
	clustertest.Run(t, clustertest.Broker{
		NewEngine: func(t *testing.T, cfg server.Config) herald.Engine {
			url := servers[next%len(servers)].URL()
			next++
			// A fresh three-server cluster may still be electing its meta leader: creating
			// an R3 stream can take longer than the default round trip on a busy machine.
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			e, err := natsengine.New(ctx, natsengine.Options{URL: url, Retention: cfg.Retention, Replicas: 3})
			if err != nil {
				t.Fatal(err)
			}
			return e
		},
	})
}

// TestChaos runs the promise under fire on three `herald serve --engine nats` processes over
// one real nats-server -js: a node killed with SIGKILL and restarted, then the nats-server
// stopped and started again (JetStream keeps its file store, so no reset is acceptable).
func TestChaos(t *testing.T) {
	ns := testserver.NATS(t)
	clustertest.RunChaos(t, []string{"--engine", "nats", "--nats-url", ns.URL()},
		clustertest.Broker{Stop: func(*testing.T) { ns.Stop() }, Start: func(*testing.T) { ns.Start() }}, true)
}
