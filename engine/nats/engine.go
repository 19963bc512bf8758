package natsengine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/heraldpush/herald"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Engine is a Herald engine on NATS: history in JetStream, live fan-out over core NATS. It is
// safe for concurrent use. Create it with New.
type Engine struct {
	opts  Options
	log   *slog.Logger
	nc    *nats.Conn
	js    jetstream.JetStream
	heads *heads

	mu      sync.Mutex
	streams map[string]*stream // by class
	subs    map[herald.Topic]liveSub
	// live maps a subscribed topic's live subject to its *liveTopic, for the feed
	// dispatchers (see feed.go); written under mu, read without it.
	live   sync.Map
	feeds  *feeds
	lease  *bridgeLease // the bridge lease (bridge_lease.go); nil without bridge rules
	sink   herald.Sink
	closed bool

	// lost is signalled on a disconnect or a slow-consumer drop; the resync loop then calls
	// Sink.Resync once the connection is back.
	lost    chan struct{}
	stop    chan struct{}
	done    sync.WaitGroup
	started bool

	presence presenceStore // see presence.go

	acks    ackInbox  // replies of pipelined publishes, see acks.go and batch.go
	batches sync.Pool // emptied *batch values for reuse (batch.go)
}

var (
	_ herald.Engine = (*Engine)(nil)
	_ herald.Pinger = (*Engine)(nil)
)

// New connects to NATS and creates or updates the streams of opts.Default and of every
// retention in opts.Namespaces. It fails when NATS cannot be reached; afterwards the engine
// reconnects by itself for as long as it lives.
func New(ctx context.Context, opts Options) (*Engine, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	e := &Engine{
		opts:    opts,
		log:     opts.Logger,
		heads:   newHeads(),
		streams: make(map[string]*stream),
		subs:    make(map[herald.Topic]liveSub),
		feeds:   newFeeds(),
		lost:    make(chan struct{}, 1),
		stop:    make(chan struct{}),
	}
	nopts := append([]nats.Option{
		nats.Name("herald"),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250 * time.Millisecond),
		// No reconnect buffer: a publish while disconnected fails at once instead of being
		// sent later, after Publish already reported it as failed.
		nats.ReconnectBufSize(-1),
		nats.DisconnectErrHandler(e.onDisconnect),
		nats.ReconnectHandler(e.onReconnect),
		nats.ErrorHandler(e.onAsyncError),
	}, opts.NATSOptions...)
	e.nc, err = nats.Connect(opts.URL, nopts...)
	if err != nil {
		return nil, unavailable(fmt.Errorf("natsengine: connect to %s: %w", opts.URL, err))
	}
	if err := e.acks.start(e.nc); err != nil {
		e.nc.Close()
		return nil, unavailable(fmt.Errorf("natsengine: subscribe publish acknowledgements: %w", err))
	}
	e.js, err = jetstream.New(e.nc)
	if err != nil {
		e.nc.Close()
		return nil, fmt.Errorf("natsengine: jetstream: %w", err)
	}
	rets := []herald.Retention{normalize(opts.Default)}
	for _, r := range opts.Namespaces {
		rets = append(rets, normalize(r))
	}
	for _, r := range rets {
		if _, err := e.streamOf(ctx, r); err != nil {
			e.nc.Close()
			return nil, err
		}
	}
	return e, nil
}

// Start begins delivering live events of subscribed topics to sink, and starts the
// background loop that watches for recreated streams and resyncs the sink after a reconnect.
func (e *Engine) Start(ctx context.Context, sink herald.Sink) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return herald.ErrClosed
	}
	if e.started {
		return errors.New("natsengine: Start called twice")
	}
	e.started, e.sink = true, sink
	e.startLease()
	e.startFeeds()
	e.done.Add(1)
	go e.background()
	return nil
}

// Ping reports whether NATS is connected and answers a round trip.
func (e *Engine) Ping(ctx context.Context) error {
	if !e.nc.IsConnected() {
		return unavailable(fmt.Errorf("natsengine: %s", e.nc.Status()))
	}
	if err := e.flush(ctx); err != nil {
		return unavailable(fmt.Errorf("natsengine: ping: %w", err))
	}
	return nil
}

// Close unsubscribes, stops the background loop and closes the NATS connection.
func (e *Engine) Close() error {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return nil
	}
	e.closed = true
	for _, ls := range e.subs {
		ls.lt.stop()
	}
	e.subs = nil
	e.mu.Unlock()
	e.stopLease() // releases the bridge lease over the still open connection
	close(e.stop)
	e.nc.Close()
	e.done.Wait()
	return nil
}

// flush makes a round trip to the server, bounded by DefaultTimeout when ctx has no deadline.
func (e *Engine) flush(ctx context.Context) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, DefaultTimeout)
		defer cancel()
	}
	return e.nc.FlushWithContext(ctx)
}

func (e *Engine) onDisconnect(nc *nats.Conn, err error) {
	if nc.IsClosed() {
		return // Close
	}
	e.log.Warn("natsengine: disconnected from NATS", "err", err)
	// Acknowledgements in flight are lost with the connection: fail their publishes now
	// rather than at their timeout (their outcome is unknown, as after a timeout).
	e.acks.failAll(nats.ErrDisconnected)
	e.signalLost()
}

func (e *Engine) onReconnect(nc *nats.Conn) {
	// The disconnect handler already signalled the background loop, which resyncs once
	// the connection is up; signalling again would resync twice.
	e.log.Info("natsengine: reconnected to NATS", "url", nc.ConnectedUrlRedacted())
}

func (e *Engine) onAsyncError(_ *nats.Conn, sub *nats.Subscription, err error) {
	e.log.Warn("natsengine: NATS error", "err", err)
	if errors.Is(err, nats.ErrSlowConsumer) && sub != e.acks.sub {
		// The client dropped live messages: the sink must reread history.
		e.signalLost()
	}
}

func (e *Engine) signalLost() {
	select {
	case e.lost <- struct{}{}:
	default:
	}
}

// background rereads stream creation times every StreamRefresh (so that heads cached for a
// stream another node recreated are dropped) and, after live delivery was
// interrupted, waits for the connection, rechecks the streams and calls Sink.Resync once.
func (e *Engine) background() {
	defer e.done.Done()
	tick := time.NewTicker(e.opts.StreamRefresh)
	defer tick.Stop()
	for {
		select {
		case <-e.stop:
			return
		case <-tick.C:
			if e.nc.IsConnected() {
				ctx, cancel := context.WithTimeout(context.Background(), e.opts.StreamRefresh)
				if err := e.refreshAll(ctx); err != nil {
					e.log.Debug("natsengine: refresh streams", "err", err)
				}
				cancel()
			}
		case <-e.lost:
			if !e.awaitConnected() {
				return
			}
			e.resync()
		}
	}
}

// awaitConnected waits until the connection is up; false when the engine closes first.
func (e *Engine) awaitConnected() bool {
	for !e.nc.IsConnected() {
		select {
		case <-e.stop:
			return false
		case <-time.After(50 * time.Millisecond):
		}
	}
	return true
}

// resync makes sure the server has this node's subscriptions and the streams exist (a
// restarted server may have lost them), forgets cached heads, then tells the sink.
func (e *Engine) resync() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := e.nc.FlushWithContext(ctx); err != nil {
		e.log.Warn("natsengine: flush after reconnect", "err", err)
		e.signalLost()
		return
	}
	e.heads.dropAll()
	if err := e.refreshAll(ctx); err != nil {
		e.log.Warn("natsengine: recheck streams after reconnect", "err", err)
	}
	e.mu.Lock()
	sink := e.sink
	e.mu.Unlock()
	e.log.Info("natsengine: live feed back, resyncing sink")
	sink.Resync()
}

// unavailable wraps err so that it also matches herald.ErrEngineUnavailable.
// parallel runs f(0)…f(n-1) at once, each in its own goroutine (a single call in the
// caller's), and returns when all have: for independent round trips to NATS.
func parallel(n int, f func(i int)) {
	if n == 1 {
		f(0)
		return
	}
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { f(i) })
	}
	wg.Wait()
}

func unavailable(err error) error {
	if err == nil || errors.Is(err, herald.ErrEngineUnavailable) {
		return err
	}
	return fmt.Errorf("%w: %w", herald.ErrEngineUnavailable, err)
}
