package natsengine

import (
	"context"
	"testing"
	"time"

	"github.com/heraldpush/herald"
	"github.com/heraldpush/herald/engine/enginetest"
	"github.com/heraldpush/herald/internal/testserver"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// newEngine returns an engine on url with retention ret, closed when the test ends.
func newEngine(tb testing.TB, url string, ret herald.RetentionFunc) *Engine {
	tb.Helper()
	e, err := New(context.Background(), Options{URL: url, Retention: ret, Storage: jetstream.MemoryStorage})
	if err != nil {
		tb.Fatalf("New: %v", err)
	}
	tb.Cleanup(func() { e.Close() })
	return e
}

// startedEngine returns a started engine on opts, with a Recorder as its sink.
func startedEngine(t *testing.T, opts Options) (*Engine, *enginetest.Recorder) {
	t.Helper()
	e, err := New(t.Context(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	rec := enginetest.NewRecorder()
	if err := e.Start(t.Context(), rec); err != nil {
		t.Fatal(err)
	}
	return e, rec
}

// jsClient connects a plain NATS client (an operator's or a worker's) with JetStream; the
// connection closes when the test ends.
func jsClient(tb testing.TB, url string) (*nats.Conn, jetstream.JetStream) {
	tb.Helper()
	nc, err := nats.Connect(url)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		tb.Fatal(err)
	}
	return nc, js
}

// wipeStreams deletes every stream on the server, as an operator flushing JetStream would.
func wipeStreams(tb testing.TB, url string) {
	tb.Helper()
	_, js := jsClient(tb, url)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	names := js.StreamNames(ctx)
	var all []string
	for n := range names.Name() {
		all = append(all, n)
	}
	if err := names.Err(); err != nil {
		tb.Fatal(err)
	}
	for _, n := range all {
		if err := js.DeleteStream(ctx, n); err != nil {
			tb.Fatal(err)
		}
	}
}

// TestConformance runs the engine conformance suite with several engines (nodes) on one
// nats-server.
func TestConformance(t *testing.T) {
	srv := testserver.NATS(t)
	enginetest.Run(t, enginetest.Factory{
		New: func(t *testing.T, ret herald.RetentionFunc) herald.Engine {
			return newEngine(t, srv.URL(), ret)
		},
		MultiNode: true,
		Wipe:      func(t *testing.T) { wipeStreams(t, srv.URL()) },
	})
}
