package outbox

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/heraldpush/herald"
	"github.com/heraldpush/herald/bridge"
	"github.com/heraldpush/herald/internal/wait"
)

// Defaults for Options.
const (
	// DefaultLockRetry is how often a node that does not serve the outbox tries the lock;
	// it bounds how long a table goes unserved after the serving node is gone.
	DefaultLockRetry = time.Second
	// DefaultMaxDataBytes is the largest event data a row may carry (the server's default
	// max-message-bytes).
	DefaultMaxDataBytes = 64 << 10
	// DefaultRoundTimeout bounds one round's database and engine calls, so a connection
	// that silently died is noticed and dropped.
	DefaultRoundTimeout = 15 * time.Second
	// reconnectDelay is the pause after a failed connection or round before the next try.
	reconnectDelay = time.Second
)

// Store is what a relay needs of an engine (every herald.Engine is one): Publish, and
// History to recognise a re-published row that a closed topic refuses (see alreadyStored).
type Store interface {
	Publish(ctx context.Context, msgs []herald.Message) ([]herald.Event, error)
	History(ctx context.Context, topic herald.Topic, after uint64, limit int) (herald.History, error)
}

// Options configure a Relay.
type Options struct {
	// Source is the outbox rule's setting; Source.DSN is required.
	Source bridge.OutboxSource
	// MaxDataBytes bounds a row's event data; larger rows go to the dead table.
	// DefaultMaxDataBytes when zero.
	MaxDataBytes int
	// LockRetry: see DefaultLockRetry.
	LockRetry time.Duration
	// RoundTimeout: see DefaultRoundTimeout.
	RoundTimeout time.Duration
	// Registerer receives the relay's metrics; nil registers none.
	Registerer prometheus.Registerer
	// Logger receives the relay's logs; nil means slog.Default().
	Logger *slog.Logger
}

// Relay delivers one outbox table into an engine. Run it on every node; one at a time
// serves (see the package documentation).
type Relay struct {
	pub     Store
	src     bridge.OutboxSource
	cfg     *pgx.ConnConfig
	maxData int
	retry   time.Duration
	timeout time.Duration
	log     *slog.Logger
	met     *relayMetrics
	key     int64
	serving atomic.Bool

	// afterStore, when set (tests), runs after the engine confirmed a round's store and
	// before the rows are deleted; an error abandons the round as a crash would.
	afterStore func(ctx context.Context, conn *pgx.Conn) error
}

// New checks opts and returns a Relay publishing into pub. It does not connect.
func New(pub Store, opts Options) (*Relay, error) {
	src := opts.Source.WithDefaults()
	if err := src.Check(); err != nil {
		return nil, err
	}
	if src.DSN == "" {
		return nil, errors.New("outbox: no dsn (set it in the rule or in HERALD_OUTBOX_DSN)")
	}
	cfg, err := pgx.ParseConfig(src.DSN)
	if err != nil {
		return nil, fmt.Errorf("outbox: dsn: %w", err)
	}
	if _, ok := cfg.RuntimeParams["application_name"]; !ok {
		cfg.RuntimeParams["application_name"] = "herald-outbox"
	}
	r := &Relay{
		pub:     pub,
		src:     src,
		cfg:     cfg,
		maxData: opts.MaxDataBytes,
		retry:   opts.LockRetry,
		timeout: opts.RoundTimeout,
		log:     opts.Logger,
		key:     lockKey(src.Table),
	}
	if r.maxData <= 0 {
		r.maxData = DefaultMaxDataBytes
	}
	if r.retry <= 0 {
		r.retry = DefaultLockRetry
	}
	if r.timeout <= 0 {
		r.timeout = DefaultRoundTimeout
	}
	if r.log == nil {
		r.log = slog.Default()
	}
	r.log = r.log.With("outbox", src.Table)
	if r.met, err = newRelayMetrics(opts.Registerer, src.Table); err != nil {
		return nil, err
	}
	return r, nil
}

// Table returns the outbox table the relay reads.
func (r *Relay) Table() string { return r.src.Table }

// Serving reports whether this node holds the outbox lock and delivers the table now.
func (r *Relay) Serving() bool { return r.serving.Load() }

// Run connects, competes for the lock and serves the outbox while it holds it, reconnecting
// after failures, until ctx ends. It returns nil then; closing the connection gives the
// lock to another node at once.
func (r *Relay) Run(ctx context.Context) error {
	var last repeatLog
	for ctx.Err() == nil {
		err := r.session(ctx, &last)
		if ctx.Err() != nil {
			break
		}
		last.log(ctx, r.log, "outbox: connection ended; reconnecting", hint(err))
		if !wait.Sleep(ctx, reconnectDelay) {
			break
		}
	}
	return nil
}

// repeatLog logs an error at Warn when its text differs from the previous one, and at Debug
// when it repeats, so a relay retrying every second does not flood the log.
type repeatLog struct{ last string }

func (l *repeatLog) log(ctx context.Context, log *slog.Logger, msg string, err error) {
	lv := slog.LevelWarn
	if err.Error() == l.last {
		lv = slog.LevelDebug
	}
	l.last = err.Error()
	log.Log(ctx, lv, msg, "err", err)
}

// hint adds the cure to errors whose cause is a missing table or column.
func hint(err error) error {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && (pgErr.Code == "42P01" || pgErr.Code == "42703") { // undefined_table, undefined_column
		return fmt.Errorf("%w (create or upgrade the table with `herald outbox init`)", err)
	}
	return err
}

// session runs one connection: lock attempts until it holds the lock, then rounds until
// ctx ends or the connection fails.
func (r *Relay) session(ctx context.Context, last *repeatLog) error {
	cctx, cancel := context.WithTimeout(ctx, r.timeout)
	conn, err := pgx.ConnectConfig(cctx, r.cfg)
	cancel()
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	r.setKeepalives(ctx, conn)
	defer func() {
		r.serving.Store(false)
		r.met.serving.Set(0)
		r.met.lag.Set(0)
		c, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = conn.Close(c)
	}()
	for waited := false; ; waited = true {
		ok, err := r.tryLock(ctx, conn)
		if err != nil {
			return err
		}
		if ok {
			break
		}
		if !waited {
			r.log.Info("outbox: another node serves the table; standing by", "retry", r.retry)
		}
		if !wait.Sleep(ctx, r.retry) {
			return ctx.Err()
		}
	}
	if _, err := conn.Exec(ctx, "LISTEN "+r.src.Table); err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	r.serving.Store(true)
	r.met.serving.Set(1)
	r.log.Info("outbox: serving the table on this node", "poll", r.src.Poll, "batch", r.src.Batch, "keep", r.src.Keep)
	defer r.log.Info("outbox: stopped serving the table on this node")
	for {
		n, err := r.round(ctx, conn)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if conn.IsClosed() || errors.Is(err, errConnLost) {
				return err
			}
			// The engine failed: keep the lock, retry after a pause.
			last.log(ctx, r.log, "outbox: round failed; retrying", err)
			if !wait.Sleep(ctx, reconnectDelay) {
				return ctx.Err()
			}
			continue
		}
		if n == r.src.Batch {
			continue // more rows are waiting
		}
		if err := r.wait(ctx, conn); err != nil {
			return err
		}
	}
}

// sessionKeepalives make the server notice a vanished node quickly, since the lock dies with
// the session: keepalive probes after 5 s idle, every 2 s, 3 lost ones end the session, and
// data unacknowledged for 10 s ends it too. They are SET after connecting (not startup
// parameters, which PgBouncer refuses); settings the DSN gives are kept.
var sessionKeepalives = [][2]string{
	{"tcp_keepalives_idle", "5"},
	{"tcp_keepalives_interval", "2"},
	{"tcp_keepalives_count", "3"},
	{"tcp_user_timeout", "10000"},
}

// setKeepalives applies sessionKeepalives; a server that refuses one (too old, or a pooler
// in between) is logged, not fatal.
func (r *Relay) setKeepalives(ctx context.Context, conn *pgx.Conn) {
	for _, kv := range sessionKeepalives {
		if _, ok := r.cfg.RuntimeParams[kv[0]]; ok {
			continue
		}
		if _, err := conn.Exec(ctx, "SET "+kv[0]+" = "+kv[1]); err != nil {
			r.log.Debug("outbox: session setting refused", "setting", kv[0], "err", err)
		}
	}
}

// tryLock asks for the table's session advisory lock without waiting.
func (r *Relay) tryLock(ctx context.Context, conn *pgx.Conn) (bool, error) {
	cctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	var ok bool
	if err := conn.QueryRow(cctx, "SELECT pg_try_advisory_lock($1)", r.key).Scan(&ok); err != nil {
		return false, fmt.Errorf("advisory lock: %w", err)
	}
	return ok, nil
}

// wait returns at the first notification on the table's channel or after Poll. A
// notification that arrived during the last round is returned at once.
func (r *Relay) wait(ctx context.Context, conn *pgx.Conn) error {
	wctx, cancel := context.WithTimeout(ctx, r.src.Poll)
	defer cancel()
	_, err := conn.WaitForNotification(wctx)
	switch {
	case err == nil:
		return nil
	case ctx.Err() != nil:
		return ctx.Err()
	case errors.Is(err, context.DeadlineExceeded) || errors.Is(wctx.Err(), context.DeadlineExceeded):
		if conn.IsClosed() {
			return fmt.Errorf("%w: wait for notification: %w", errConnLost, err)
		}
		return nil
	default:
		return fmt.Errorf("%w: wait for notification: %w", errConnLost, err)
	}
}

// lockKey is the advisory lock key of a table: FNV-1a of "herald.outbox." + table.
func lockKey(table string) int64 {
	h := fnv.New64a()
	h.Write([]byte("herald.outbox." + table))
	return int64(h.Sum64())
}
