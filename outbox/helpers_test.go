package outbox

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/heraldpush/herald"
	"github.com/heraldpush/herald/bridge"
	"github.com/heraldpush/herald/engine/enginetest"
	"github.com/heraldpush/herald/engine/memory"
	natsengine "github.com/heraldpush/herald/engine/nats"
	redisengine "github.com/heraldpush/herald/engine/redis"
	"github.com/heraldpush/herald/internal/testserver"
)

const table = "herald_outbox"

// engineCase builds a started engine of one kind, with a Recorder as its sink.
type engineCase struct {
	name string
	new  func(t *testing.T) (herald.Engine, *enginetest.Recorder)
}

func engines() []engineCase {
	start := func(t *testing.T, e herald.Engine) (herald.Engine, *enginetest.Recorder) {
		t.Helper()
		t.Cleanup(func() { e.Close() })
		rec := enginetest.NewRecorder()
		if err := e.Start(t.Context(), rec); err != nil {
			t.Fatal(err)
		}
		return e, rec
	}
	return []engineCase{
		{"memory", func(t *testing.T) (herald.Engine, *enginetest.Recorder) {
			return start(t, memory.New(memory.Options{Logger: quiet()}))
		}},
		{"redis", func(t *testing.T) (herald.Engine, *enginetest.Recorder) {
			srv := testserver.Redis(t)
			e, err := redisengine.New(t.Context(), redisengine.Options{URL: srv.URL(), Logger: quiet()})
			if err != nil {
				t.Fatal(err)
			}
			return start(t, e)
		}},
		{"nats", func(t *testing.T) (herald.Engine, *enginetest.Recorder) {
			srv := testserver.NATS(t)
			e, err := natsengine.New(t.Context(), natsengine.Options{URL: srv.URL(), Storage: jetstream.MemoryStorage, Logger: quiet()})
			if err != nil {
				t.Fatal(err)
			}
			return start(t, e)
		}},
	}
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// database starts a PostgreSQL server, creates the outbox (with the NOTIFY trigger when
// notify is set) and returns its DSN and an open connection for the test's own SQL.
func database(t *testing.T, notify bool) (string, *pgx.Conn) {
	t.Helper()
	srv := testserver.Postgres(t)
	conn := connect(t, srv.DSN())
	if err := Init(t.Context(), conn, table, notify); err != nil {
		t.Fatal(err)
	}
	return srv.DSN(), conn
}

func connect(t *testing.T, dsn string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

// runningRelay is a Relay running in its own goroutine until stop.
type runningRelay struct {
	*Relay
	cancel context.CancelFunc
	done   chan struct{}
	once   sync.Once
}

// stop ends the relay and waits until Run returned (its connection is closed by then).
func (r *runningRelay) stop() {
	r.once.Do(func() {
		r.cancel()
		<-r.done
	})
}

// startRelay runs a relay on pub with the given source settings (DSN filled in); modify,
// when set, adjusts the Relay before it runs.
func startRelay(t *testing.T, pub Store, dsn string, src bridge.OutboxSource, opts Options, modify func(*Relay)) *runningRelay {
	t.Helper()
	src.DSN = dsn
	opts.Source = src
	if opts.Logger == nil {
		opts.Logger = quiet()
		if testing.Verbose() {
			opts.Logger = slog.New(slog.NewTextHandler(tlog{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
		}
	}
	if opts.LockRetry == 0 {
		opts.LockRetry = 100 * time.Millisecond
	}
	r, err := New(pub, opts)
	if err != nil {
		t.Fatal(err)
	}
	if modify != nil {
		modify(r)
	}
	ctx, cancel := context.WithCancel(context.Background())
	rr := &runningRelay{Relay: r, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(rr.done)
		_ = r.Run(ctx)
	}()
	t.Cleanup(rr.stop)
	return rr
}

// eventually polls cond every 10 ms until it holds or timeout passes (then fails).
func eventually(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %v: %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// count runs a SELECT count(*) query.
func count(t *testing.T, conn *pgx.Conn, q string, args ...any) int {
	t.Helper()
	var n int
	if err := conn.QueryRow(t.Context(), q, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return n
}

// insert inserts rows (topic, event, data JSON text) in one transaction and returns their
// ids; rollback discards the transaction instead of committing it.
func insert(t *testing.T, conn *pgx.Conn, rollback bool, rows ...[3]string) []int64 {
	t.Helper()
	tx, err := conn.Begin(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	var ids []int64
	for _, r := range rows {
		var id int64
		if err := tx.QueryRow(t.Context(), `INSERT INTO `+table+` (topic, event, data) VALUES ($1, nullif($2, ''), $3::jsonb) RETURNING id`,
			r[0], r[1], r[2]).Scan(&id); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	if rollback {
		err = tx.Rollback(t.Context())
	} else {
		err = tx.Commit(t.Context())
	}
	if err != nil {
		t.Fatal(err)
	}
	return ids
}

// tlog writes log lines to the test log.
type tlog struct{ t *testing.T }

func (w tlog) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
