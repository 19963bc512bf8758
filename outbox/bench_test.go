package outbox

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/heraldpush/herald"
	"github.com/heraldpush/herald/bridge"
	"github.com/heraldpush/herald/engine/memory"
	natsengine "github.com/heraldpush/herald/engine/nats"
	redisengine "github.com/heraldpush/herald/engine/redis"
	"github.com/heraldpush/herald/internal/testserver"
	"github.com/heraldpush/herald/server"
)

// BenchmarkInsertToSubscriber measures the latency from an application's INSERT into the
// outbox (autocommit, one row per transaction, the NOTIFY trigger installed, default 250 ms
// poll) to the event's data: line read by an SSE subscriber of GET /v1/events over loopback
// HTTP: PostgreSQL commit → NOTIFY → relay round → Engine.Publish → hub → socket. One row
// at a time; p50 and p99 are reported in milliseconds.
//
//	go test -run '^$' -bench InsertToSubscriber -benchtime 2000x ./outbox/
func BenchmarkInsertToSubscriber(b *testing.B) {
	for _, name := range []string{"memory", "redis", "nats"} {
		b.Run(name, func(b *testing.B) {
			var eng herald.Engine
			switch name {
			case "memory":
				eng = memory.New(memory.Options{Logger: quiet()})
			case "redis":
				srv := testserver.Redis(b)
				e, err := redisengine.New(context.Background(), redisengine.Options{URL: srv.URL(), Logger: quiet()})
				if err != nil {
					b.Fatal(err)
				}
				eng = e
			case "nats":
				srv := testserver.NATS(b)
				e, err := natsengine.New(context.Background(), natsengine.Options{URL: srv.URL(), Storage: jetstream.MemoryStorage, Logger: quiet()})
				if err != nil {
					b.Fatal(err)
				}
				eng = e
			}
			benchInsertToSubscriber(b, eng)
		})
	}
}

func benchInsertToSubscriber(b *testing.B, eng herald.Engine) {
	ctx := context.Background()
	pg := testserver.Postgres(b)
	db, err := pgx.Connect(ctx, pg.DSN())
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close(ctx)
	if err := Init(ctx, db, table, true); err != nil {
		b.Fatal(err)
	}
	srv, err := server.New(server.Config{}, eng, server.Options{Logger: quiet()})
	if err != nil {
		b.Fatal(err)
	}
	if err := srv.Start(ctx); err != nil {
		b.Fatal(err)
	}
	hs := httptest.NewServer(srv.Handler())
	defer func() { hs.Close(); srv.Close(); eng.Close() }()

	rel, err := New(eng, Options{Source: bridge.OutboxSource{DSN: pg.DSN()}, Logger: quiet()})
	if err != nil {
		b.Fatal(err)
	}
	rctx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); _ = rel.Run(rctx) }()
	defer func() { stop(); <-done }()

	resp, err := http.Get(hs.URL + "/v1/events?topic=bench:1")
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	data := make(chan string, 16)
	go func() {
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			if l := sc.Text(); strings.HasPrefix(l, "data:") {
				data <- l
			}
		}
		close(data)
	}()
	insert := func(i int) time.Duration {
		start := time.Now()
		if _, err := db.Exec(ctx, `INSERT INTO `+table+` (topic, data) VALUES ('bench:1', $1::jsonb)`, fmt.Sprint(i)); err != nil {
			b.Fatal(err)
		}
		select {
		case l := <-data:
			if l != "data: "+fmt.Sprint(i) {
				b.Fatalf("got %q; want row %d", l, i)
			}
		case <-time.After(10 * time.Second):
			b.Fatalf("row %d not delivered within 10s", i)
		}
		return time.Since(start)
	}
	insert(-1) // the relay serves and the stream is live
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := range b.N {
		lat = append(lat, insert(i))
	}
	b.StopTimer()
	slices.Sort(lat)
	pct := func(p float64) float64 {
		return float64(lat[min(len(lat)-1, int(p*float64(len(lat))))].Microseconds()) / 1000
	}
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
	b.ReportMetric(0, "ns/op")
}
