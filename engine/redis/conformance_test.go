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

// TestConformance runs the engine conformance suite with several engines (nodes) sharing
// one redis-server; Wipe is FLUSHALL.
func TestConformance(t *testing.T) {
	srv := testserver.Redis(t)
	admin := goredis.NewClient(&goredis.Options{Addr: srv.Addr()})
	t.Cleanup(func() { _ = admin.Close() })
	enginetest.Run(t, enginetest.Factory{
		New: func(t *testing.T, ret herald.RetentionFunc) herald.Engine {
			e, err := New(context.Background(), Options{URL: srv.URL(), Retention: ret, HealthCheckInterval: time.Second})
			if err != nil {
				t.Fatal(err)
			}
			return e
		},
		MultiNode: true,
		Wipe: func(t *testing.T) {
			if err := admin.FlushAll(context.Background()).Err(); err != nil {
				t.Fatal(err)
			}
		},
	})
}
