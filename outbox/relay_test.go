package outbox

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/heraldpush/herald"
	"github.com/heraldpush/herald/bridge"
	"github.com/heraldpush/herald/engine/enginetest"
	"github.com/heraldpush/herald/engine/memory"
	"github.com/heraldpush/herald/internal/testserver"
)

// TestCommittedRowsArriveInOrder: on every engine, rows of committed transactions arrive
// in id order, live and in history, each once; rows of a rolled-back transaction never do.
func TestCommittedRowsArriveInOrder(t *testing.T) {
	for _, ec := range engines() {
		t.Run(ec.name, func(t *testing.T) {
			t.Parallel()
			eng, rec := ec.new(t)
			dsn, db := database(t, true)
			for _, topic := range []herald.Topic{"order:1", "order:2"} {
				if err := eng.Subscribe(t.Context(), topic); err != nil {
					t.Fatal(err)
				}
			}
			reg := prometheus.NewRegistry()
			r := startRelay(t, eng, dsn, bridge.OutboxSource{}, Options{Registerer: reg}, nil)

			ids := insert(t, db, false,
				[3]string{"order:1", "created", `{"n": 1, "items": [1, 2]}`},
				[3]string{"order:2", "", `"plain text"`},
				[3]string{"order:1", "paid", `{"n": 2}`})
			insert(t, db, true, [3]string{"order:1", "ghost", `{"n": "rolled back"}`})
			ids = append(ids, insert(t, db, false, [3]string{"order:1", "shipped", `{"n": 3}`})...)
			if !slices.IsSorted(ids) {
				t.Fatalf("ids %v not increasing", ids)
			}

			live := rec.Wait(t, "order:1", 3, 15*time.Second)
			rec.Wait(t, "order:2", 1, 15*time.Second)
			eventually(t, 15*time.Second, "outbox emptied", func() bool {
				return count(t, db, "SELECT count(*) FROM "+table) == 0
			})
			want := []string{`{"n":1,"items":[1,2]}`, `{"n":2}`, `{"n":3}`}
			var names []herald.EventName
			var got []string
			for _, ev := range live {
				got = append(got, string(ev.Data))
				names = append(names, ev.Name)
			}
			if !slices.Equal(got, want) || !slices.Equal(names, []herald.EventName{"created", "paid", "shipped"}) {
				t.Errorf("live order:1 = %q %q; want %q", got, names, want)
			}
			if h := enginetest.HistoryData(t, eng, "order:1"); !slices.Equal(h, want) {
				t.Errorf("history order:1 = %q; want %q", h, want)
			}
			if h := enginetest.HistoryData(t, eng, "order:2"); !slices.Equal(h, []string{"plain text"}) {
				t.Errorf("history order:2 = %q", h)
			}
			if n := testutil.ToFloat64(r.met.delivered); n != 4 {
				t.Errorf("rows delivered metric = %v; want 4", n)
			}
			if !r.Serving() || testutil.ToFloat64(r.met.serving) != 1 {
				t.Error("the only relay does not report serving")
			}
		})
	}
}

// TestCrashBetweenStoreAndDelete: a node that dies after the engine stored a round and
// before the rows were deleted leaves them in the table; the node that serves next
// publishes them again and the dedup key keeps each event single, on every engine.
func TestCrashBetweenStoreAndDelete(t *testing.T) {
	for _, ec := range engines() {
		t.Run(ec.name, func(t *testing.T) {
			t.Parallel()
			eng, _ := ec.new(t)
			dsn, db := database(t, true)
			crashed := make(chan struct{})
			var first *runningRelay
			first = startRelay(t, eng, dsn, bridge.OutboxSource{}, Options{}, func(r *Relay) {
				r.afterStore = func(ctx context.Context, conn *pgx.Conn) error {
					// Die here: the connection (and the lock) goes as a killed process's would.
					conn.PgConn().Conn().Close()
					close(crashed)
					go first.stop()
					return errors.New("killed between store and delete")
				}
			})
			insert(t, db, false,
				[3]string{"job:7", "step", `{"n": 1}`},
				[3]string{"job:7", "step", `{"n": 2}`},
				[3]string{"job:8", "step", `{"n": 1}`})
			// job:8's last row is final: its re-publish meets a closed topic.
			if _, err := db.Exec(t.Context(), `INSERT INTO `+table+` (topic, event, data, final) VALUES ('job:8', 'done', '{"n": 2}', true)`); err != nil {
				t.Fatal(err)
			}
			select {
			case <-crashed:
			case <-time.After(15 * time.Second):
				t.Fatal("the first relay never stored a round")
			}
			<-first.done
			if n := count(t, db, "SELECT count(*) FROM "+table); n != 4 {
				t.Fatalf("after the crash %d rows remain; want all 4", n)
			}
			if h := enginetest.HistoryData(t, eng, "job:7"); len(h) != 2 {
				t.Fatalf("the crashed round stored %q; want both events", h)
			}

			second := startRelay(t, eng, dsn, bridge.OutboxSource{}, Options{Registerer: prometheus.NewRegistry()}, nil)
			eventually(t, 15*time.Second, "outbox emptied by the second relay", func() bool {
				return count(t, db, "SELECT count(*) FROM "+table) == 0
			})
			if h := enginetest.HistoryData(t, eng, "job:7"); !slices.Equal(h, []string{`{"n":1}`, `{"n":2}`}) {
				t.Errorf("history job:7 = %q; want each event once", h)
			}
			if h := enginetest.HistoryData(t, eng, "job:8"); !slices.Equal(h, []string{`{"n":1}`, `{"n":2}`}) {
				t.Errorf("history job:8 = %q; want each event once", h)
			}
			if n := testutil.ToFloat64(second.met.delivered); n != 4 {
				t.Errorf("second relay settled %v rows; want 4 (re-delivered, deduplicated)", n)
			}
			if n := count(t, db, "SELECT count(*) FROM "+table+"_dead"); n != 0 {
				t.Errorf("%d rows in the dead table; a re-delivered final row is delivered, not dead", n)
			}
		})
	}
}

// TestOneNodeServesAtATime: of two relays on one table exactly one holds the lock and
// serves; when it stops (as a node shuts down) or its session is killed (as a crashed node's
// is), the other takes over within seconds and nothing is lost or doubled.
func TestOneNodeServesAtATime(t *testing.T) {
	t.Parallel()
	eng := memory.New(memory.Options{Logger: quiet()})
	t.Cleanup(func() { eng.Close() })
	dsn, db := database(t, true)
	a := startRelay(t, eng, dsn, bridge.OutboxSource{}, Options{}, nil)
	b := startRelay(t, eng, dsn, bridge.OutboxSource{}, Options{}, nil)
	relays := []*runningRelay{a, b}
	serving := func() []*runningRelay {
		var s []*runningRelay
		for _, r := range relays {
			if r.Serving() {
				s = append(s, r)
			}
		}
		return s
	}
	eventually(t, 15*time.Second, "one relay serves", func() bool { return len(serving()) == 1 })
	// For several lock retries the other stays a standby.
	for range 30 {
		if n := len(serving()); n != 1 {
			t.Fatalf("%d relays serve; want exactly 1", n)
		}
		time.Sleep(10 * time.Millisecond)
	}
	var want []string
	put := func(n int) {
		d := fmt.Sprintf(`{"n":%d}`, n)
		insert(t, db, false, [3]string{"room:1", "", d})
		want = append(want, d)
	}
	delivered := func() bool { return slices.Equal(enginetest.HistoryData(t, eng, "room:1"), want) }
	put(1)
	eventually(t, 15*time.Second, "row 1 delivered", delivered)

	// The serving node shuts down: the other takes over.
	leader := serving()[0]
	standby := a
	if leader == a {
		standby = b
	}
	leader.stop()
	start := time.Now()
	put(2)
	eventually(t, 15*time.Second, "standby took over", standby.Serving)
	eventually(t, 15*time.Second, "row 2 delivered", delivered)
	t.Logf("takeover after a shutdown: %v", time.Since(start))

	// The serving node's session is killed (its backend terminated, as when its host dies):
	// it loses the lock; a restarted node competes again and exactly one serves.
	c := startRelay(t, eng, dsn, bridge.OutboxSource{}, Options{}, nil)
	relays = []*runningRelay{standby, c}
	var pid int
	if err := db.QueryRow(t.Context(), `SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted`).Scan(&pid); err != nil {
		t.Fatal(err)
	}
	if count(t, db, "SELECT count(*) FROM pg_terminate_backend($1) WHERE pg_terminate_backend", pid) != 1 {
		t.Fatal("pg_terminate_backend did not terminate the serving session")
	}
	start = time.Now()
	put(3)
	put(4)
	eventually(t, 15*time.Second, "rows 3 and 4 delivered after the kill", delivered)
	t.Logf("delivery resumed after a killed session: %v", time.Since(start))
	eventually(t, 15*time.Second, "exactly one serves again", func() bool { return len(serving()) == 1 })
	if n := count(t, db, `SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted`); n != 1 {
		t.Errorf("%d advisory locks held; want 1", n)
	}
}

// TestBadRowsGoToTheDeadTable: rows that can never be delivered move to <table>_dead with
// their error, are counted, and the rows after them keep flowing.
func TestBadRowsGoToTheDeadTable(t *testing.T) {
	t.Parallel()
	eng := memory.New(memory.Options{Logger: quiet()})
	t.Cleanup(func() { eng.Close() })
	dsn, db := database(t, true)
	reg := prometheus.NewRegistry()
	r := startRelay(t, eng, dsn, bridge.OutboxSource{}, Options{Registerer: reg, MaxDataBytes: 64}, nil)
	_, err := db.Exec(t.Context(), `INSERT INTO `+table+` (topic, event, data, final, dedup_key) VALUES
		('task:1', 'step', '{"n": 1}', false, NULL),
		('has space', 'step', '{"n": 2}', false, NULL),
		('task:1', E'bad\nname', '{"n": 3}', false, NULL),
		('task:1', 'step', to_jsonb(repeat('x', 100)), false, NULL),
		('herald:stats', 'step', '{"n": 5}', false, NULL),
		('task:1', 'step', '{"n": 6}', false, E'key\nwith newline'),
		('task:1', 'done', '{"n": 7}', true, NULL),
		('task:1', 'late', '{"n": 8}', false, NULL),
		('task:2', 'step', '{"n": 9}', false, NULL)`)
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, 15*time.Second, "outbox emptied", func() bool {
		return count(t, db, "SELECT count(*) FROM "+table) == 0
	})
	if h := enginetest.HistoryData(t, eng, "task:1"); !slices.Equal(h, []string{`{"n":1}`, `{"n":7}`}) {
		t.Errorf("history task:1 = %q", h)
	}
	if h := enginetest.HistoryData(t, eng, "task:2"); !slices.Equal(h, []string{`{"n":9}`}) {
		t.Errorf("history task:2 = %q; rows after bad ones must flow", h)
	}
	res, err := db.Query(t.Context(), `SELECT data->>'n', topic, error FROM `+table+`_dead ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	type dead struct{ n, topic, err string }
	got, err := pgx.CollectRows(res, func(row pgx.CollectableRow) (dead, error) {
		var d dead
		var n *string
		err := row.Scan(&n, &d.topic, &d.err)
		if n != nil {
			d.n = *n
		}
		return d, err
	})
	if err != nil {
		t.Fatal(err)
	}
	wantErr := []struct{ n, contains string }{
		{"2", "invalid topic"},
		{"3", "invalid event name"},
		{"", "data is 100 bytes, at most 64"},
		{"5", "namespace is Herald's own"},
		{"6", "dedup_key"},
		{"8", "topic closed"},
	}
	if len(got) != len(wantErr) {
		t.Fatalf("dead rows = %+v; want %d", got, len(wantErr))
	}
	for i, w := range wantErr {
		if got[i].n != w.n || !strings.Contains(got[i].err, w.contains) {
			t.Errorf("dead row %d = %+v; want n=%q error containing %q", i, got[i], w.n, w.contains)
		}
	}
	if n := testutil.ToFloat64(r.met.dead); n != 6 {
		t.Errorf("dead rows metric = %v; want 6", n)
	}
	if n := testutil.ToFloat64(r.met.delivered); n != 3 {
		t.Errorf("rows delivered metric = %v; want 3", n)
	}
}

// TestKeepMarksRowsDelivered: with keep: true rows stay, marked delivered_at, and are not
// published again.
func TestKeepMarksRowsDelivered(t *testing.T) {
	t.Parallel()
	eng := memory.New(memory.Options{Logger: quiet()})
	t.Cleanup(func() { eng.Close() })
	dsn, db := database(t, true)
	r := startRelay(t, eng, dsn, bridge.OutboxSource{Keep: true, Poll: 20 * time.Millisecond}, Options{Registerer: prometheus.NewRegistry()}, nil)
	insert(t, db, false, [3]string{"k:1", "", `1`}, [3]string{"k:1", "", `2`})
	eventually(t, 15*time.Second, "rows marked", func() bool {
		return count(t, db, "SELECT count(*) FROM "+table+" WHERE delivered_at IS NOT NULL") == 2
	})
	// One more row: it alone is settled.
	insert(t, db, false, [3]string{"k:1", "", `3`})
	eventually(t, 15*time.Second, "third row marked", func() bool {
		return count(t, db, "SELECT count(*) FROM "+table+" WHERE delivered_at IS NOT NULL") == 3
	})
	if h := enginetest.HistoryData(t, eng, "k:1"); !slices.Equal(h, []string{"1", "2", "3"}) {
		t.Errorf("history = %q", h)
	}
	if n := testutil.ToFloat64(r.met.delivered); n != 3 {
		t.Errorf("rows delivered metric = %v; want 3 (a kept row is never settled twice)", n)
	}
}

// TestNotifyAndPolling: with the trigger a commit wakes the relay at once (the poll interval
// here is an hour); without it, polling alone delivers.
func TestNotifyAndPolling(t *testing.T) {
	tests := []struct {
		name   string
		notify bool
		poll   time.Duration
	}{
		{"notify", true, time.Hour},
		{"poll", false, 50 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			eng := memory.New(memory.Options{Logger: quiet()})
			t.Cleanup(func() { eng.Close() })
			dsn, db := database(t, tt.notify)
			r := startRelay(t, eng, dsn, bridge.OutboxSource{Poll: tt.poll}, Options{}, nil)
			eventually(t, 15*time.Second, "serving", r.Serving)
			// The first round may still be ahead: wait for an idle relay by delivering a row.
			for i := 1; i <= 3; i++ {
				insert(t, db, false, [3]string{"n:1", "", fmt.Sprint(i)})
				eventually(t, 15*time.Second, fmt.Sprintf("row %d delivered", i), func() bool {
					return len(enginetest.HistoryData(t, eng, "n:1")) == i
				})
			}
		})
	}
}

// TestRelayChecksItsSettings: bad settings are refused by New with a clear error.
func TestRelayChecksItsSettings(t *testing.T) {
	tests := []struct {
		name string
		src  bridge.OutboxSource
		want string
	}{
		{"no dsn", bridge.OutboxSource{}, "no dsn"},
		{"bad dsn", bridge.OutboxSource{DSN: "postgres://[::1"}, "dsn"},
		{"bad table", bridge.OutboxSource{DSN: "postgres://x@localhost/db", Table: "a-b"}, "table"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(memory.New(memory.Options{}), Options{Source: tt.src})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("New = %v; want an error about %s", err, tt.want)
			}
		})
	}
}

// TestEngineDownKeepsRowsAndReportsLag: while the engine refuses every publish (here: it is
// closed), rows stay in the table, nothing goes to the dead table, and the lag gauge reports
// the age of the oldest row.
func TestEngineDownKeepsRowsAndReportsLag(t *testing.T) {
	t.Parallel()
	eng := memory.New(memory.Options{Logger: quiet()})
	eng.Close()
	dsn, db := database(t, true)
	if _, err := db.Exec(t.Context(), `INSERT INTO `+table+` (topic, data, created_at) VALUES ('a:1', '1', now() - interval '1 hour')`); err != nil {
		t.Fatal(err)
	}
	r := startRelay(t, eng, dsn, bridge.OutboxSource{}, Options{Registerer: prometheus.NewRegistry()}, nil)
	eventually(t, 15*time.Second, "lag reported", func() bool { return testutil.ToFloat64(r.met.lag) >= 3600 })
	if lag := testutil.ToFloat64(r.met.lag); lag > 3700 {
		t.Errorf("lag = %v s; want about 3600", lag)
	}
	if n := count(t, db, "SELECT count(*) FROM "+table); n != 1 {
		t.Errorf("%d rows in the outbox; the undelivered row must stay", n)
	}
	if n := count(t, db, "SELECT count(*) FROM "+table+"_dead"); n != 0 {
		t.Errorf("%d dead rows; an engine failure is not the row's fault", n)
	}
	if n := testutil.ToFloat64(r.met.delivered); n != 0 {
		t.Errorf("delivered = %v; want 0", n)
	}
}

// TestSessionSettings: the serving session carries the keepalive settings that let
// PostgreSQL notice a vanished node (and so release its lock) within seconds.
func TestSessionSettings(t *testing.T) {
	t.Parallel()
	eng := memory.New(memory.Options{Logger: quiet()})
	t.Cleanup(func() { eng.Close() })
	dsn, db := database(t, true)
	r := startRelay(t, eng, dsn, bridge.OutboxSource{}, Options{}, nil)
	eventually(t, 15*time.Second, "serving", r.Serving)
	var name string
	if err := db.QueryRow(t.Context(), `SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a USING (pid)
		WHERE l.locktype = 'advisory' AND l.granted`).Scan(&name); err != nil {
		t.Fatal(err)
	}
	if name != "herald-outbox" {
		t.Errorf("application_name = %q", name)
	}
	// A session's settings are visible only to itself (pg_stat_activity does not show
	// them): apply the relay's settings to a connection of the test and read them back.
	conn := connect(t, dsn)
	r.setKeepalives(t.Context(), conn)
	for _, kv := range sessionKeepalives {
		var v string
		if err := conn.QueryRow(t.Context(), "SHOW "+kv[0]).Scan(&v); err != nil {
			t.Fatal(err)
		}
		if want := map[string]string{"tcp_keepalives_idle": "5", "tcp_keepalives_interval": "2",
			"tcp_keepalives_count": "3", "tcp_user_timeout": "10000"}[kv[0]]; v != want {
			t.Errorf("%s = %q; want %q", kv[0], v, want)
		}
	}
}

// TestMissingTableIsExplained: a relay started before `herald outbox init` says what to do,
// and delivers once the table exists, without a restart.
func TestMissingTableIsExplained(t *testing.T) {
	t.Parallel()
	eng := memory.New(memory.Options{Logger: quiet()})
	t.Cleanup(func() { eng.Close() })
	srv := testserver.Postgres(t)
	db := connect(t, srv.DSN())
	logs := &lockedBuffer{}
	startRelay(t, eng, srv.DSN(), bridge.OutboxSource{}, Options{Logger: slog.New(slog.NewTextHandler(logs, nil))}, nil)
	eventually(t, 15*time.Second, "a warning naming herald outbox init", func() bool {
		return strings.Contains(logs.String(), "level=WARN") && strings.Contains(logs.String(), "herald outbox init")
	})
	if err := Init(t.Context(), db, table, true); err != nil {
		t.Fatal(err)
	}
	insert(t, db, false, [3]string{"late:1", "", `"hi"`})
	eventually(t, 15*time.Second, "row delivered after init", func() bool {
		return slices.Equal(enginetest.HistoryData(t, eng, "late:1"), []string{"hi"})
	})
	if n := strings.Count(logs.String(), "level=WARN"); n != 1 {
		t.Errorf("%d warnings; want 1 (repeats of the same error at debug):\n%s", n, logs)
	}
}

// lockedBuffer is a concurrency-safe log sink.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
