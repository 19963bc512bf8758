package redis_test

import (
	"context"
	"testing"
	"time"

	"github.com/heraldpush/herald"
	redisengine "github.com/heraldpush/herald/engine/redis"
	"github.com/heraldpush/herald/internal/clustertest"
	"github.com/heraldpush/herald/internal/testserver"
	"github.com/heraldpush/herald/server"
)

// TestHeraldNodesSuite runs the shared cluster scenarios with three full Herald HTTP nodes
// over one real redis-server, including the server killed and restarted mid-stream.
func TestHeraldNodesSuite(t *testing.T) {
	rs := testserver.Redis(t)
	clustertest.Run(t, clustertest.Broker{
		NewEngine: func(t *testing.T, cfg server.Config) herald.Engine {
			e, err := redisengine.New(context.Background(), redisengine.Options{URL: rs.URL(), Retention: cfg.Retention,
				HealthCheckInterval: time.Second})
			if err != nil {
				t.Fatal(err)
			}
			return e
		},
		Stop:  func(*testing.T) { rs.Kill() },
		Start: func(*testing.T) { rs.Start() },
	})
}

// TestChaos runs the promise under fire on three `herald serve --engine redis` processes over
// one real redis-server: a node killed with SIGKILL and restarted, then the redis-server
// itself killed and restarted (without persistence: resets are allowed there, silent gaps
// never).
func TestChaos(t *testing.T) {
	rs := testserver.Redis(t)
	clustertest.RunChaos(t, []string{"--engine", "redis", "--redis-url", rs.URL()},
		clustertest.Broker{Stop: func(*testing.T) { rs.Kill() }, Start: func(*testing.T) { rs.Start() }}, false)
}
