package redis_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/heraldpush/herald"
	"github.com/heraldpush/herald/bridge"
	redisengine "github.com/heraldpush/herald/engine/redis"
	"github.com/heraldpush/herald/internal/clustertest"
	"github.com/heraldpush/herald/internal/testserver"
	"github.com/heraldpush/herald/server"
)

// The shared cluster scenarios (cross-node order, resume on another node, final events,
// redis-server killed and restarted mid-stream) are in clustertest_test.go; this file holds
// what only Redis has.

// TestNodesBridge: three nodes run the bridge; an unchanged worker PUBLISHes into Redis;
// a browser on any node sees each message once, with ids, and the stream ends at the final.
func TestNodesBridge(t *testing.T) {
	srv := testserver.Redis(t)
	rules := []bridge.Rule{{
		Pattern: "scan:*:progress", Topic: "scan:{1}", EventField: "step",
		FinalWhen: &bridge.Condition{Field: "progress", Equals: 100},
	}}
	n := clustertest.StartNodes(t, clustertest.Broker{
		NewEngine: func(t *testing.T, cfg server.Config) herald.Engine {
			e, err := redisengine.New(context.Background(), redisengine.Options{
				URL: srv.URL(), Retention: cfg.Retention, Bridge: rules, LeaseTTL: time.Second, HealthCheckInterval: time.Second,
			})
			if err != nil {
				t.Fatal(err)
			}
			return e
		},
	}, 3, server.Config{})
	worker := goredis.NewClient(&goredis.Options{Addr: srv.Addr()})
	defer worker.Close()
	ctx := context.Background()
	deadline := time.Now().Add(clustertest.Wait)
	for worker.PubSubNumPat(ctx).Val() != 1 {
		if time.Now().After(deadline) {
			t.Fatal("no node became bridge leader")
		}
		time.Sleep(10 * time.Millisecond)
	}
	s := n[2].Open(t, "scan:t1", "")
	steps := []string{
		`{"step":"vision","progress":25}`, `{"step":"rule","progress":50}`,
		`{"step":"answer","progress":75}`, `{"step":"reward","progress":100}`,
	}
	for _, p := range steps {
		worker.Publish(ctx, "scan:t1:progress", p)
	}
	got := s.Expect(t, steps...)
	if got[0].Name != "vision" || got[3].Name != "reward" || !strings.HasSuffix(got[3].ID, "-4") {
		t.Errorf("events: %+v", got)
	}
	s.ExpectEnd(t)
	if st := n[0].Status(t, "/v1/events?topic=scan:t1&lastEventID="+got[3].ID); st != http.StatusNoContent {
		t.Errorf("reconnect after final: status %d, want 204", st)
	}
}
