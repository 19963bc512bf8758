package redis

import (
	"context"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/heraldpush/herald"
	"github.com/heraldpush/herald/engine/enginetest"
	"github.com/heraldpush/herald/internal/testserver"
)

// TestClusterConformance runs the conformance suite on a three-master Redis Cluster on
// loopback: every key of a topic shares its hash tag, so each publish script runs on one
// slot, and Pub/Sub messages reach nodes attached to any cluster member.
func TestClusterConformance(t *testing.T) {
	cl := testserver.RedisClusterN(t, 3)
	admin := goredis.NewClusterClient(&goredis.ClusterOptions{Addrs: cl.Addrs()})
	t.Cleanup(func() { _ = admin.Close() })
	enginetest.Run(t, enginetest.Factory{
		New: func(t *testing.T, ret herald.RetentionFunc) herald.Engine {
			e, err := New(context.Background(), Options{URL: cl.URL(), Cluster: true, Retention: ret, HealthCheckInterval: time.Second})
			if err != nil {
				t.Fatal(err)
			}
			return e
		},
		MultiNode: true,
		Wipe: func(t *testing.T) {
			err := admin.ForEachMaster(context.Background(), func(ctx context.Context, c *goredis.Client) error {
				return c.FlushAll(ctx).Err()
			})
			if err != nil {
				t.Fatal(err)
			}
		},
	})
}
