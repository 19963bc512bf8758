// Package ssetest reads a real SSE response in tests: a stream opened with Open is parsed in
// the background, and Next, Expect, ExpectEnd and ExpectQuiet wait for it, each bounded.
// Used by server's tests and by internal/clustertest.
package ssetest

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/heraldpush/herald/sse"
)

// DefaultWait bounds each wait of a Stream opened with a zero wait.
const DefaultWait = 5 * time.Second

// Stream is an open SSE response being parsed in the background.
type Stream struct {
	// Resp is the response; Status its status code. A stream whose status is not 200 has
	// no events (Events is closed).
	Resp   *http.Response
	Status int
	// Events carries the parsed events (Data is the stream's own copy) and is closed when
	// the response ends; Done then receives the reader's error (nil at a clean end).
	Events chan sse.Event
	// Comments carries the text of comment lines (dropped when nobody reads them).
	Comments chan string
	Done     chan error

	wait   time.Duration
	cancel context.CancelFunc
}

// Open sends GET url with header through client and parses the answer. wait bounds each
// later wait (DefaultWait when 0). The request is cancelled when the test ends.
func Open(t testing.TB, client *http.Client, url string, header http.Header, wait time.Duration) *Stream {
	t.Helper()
	if wait <= 0 {
		wait = DefaultWait
	}
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := client.Do(req)
	if err != nil {
		cancel()
		t.Fatalf("GET %s: %v", url, err)
	}
	s := &Stream{Resp: resp, Status: resp.StatusCode, Events: make(chan sse.Event, 10000),
		Comments: make(chan string, 10000), Done: make(chan error, 1), wait: wait, cancel: cancel}
	t.Cleanup(func() { cancel(); resp.Body.Close() })
	if resp.StatusCode != http.StatusOK {
		close(s.Events)
		s.Done <- nil
		return s
	}
	r := sse.NewReader(resp.Body)
	r.OnComment(func(text []byte) {
		select {
		case s.Comments <- string(text):
		default:
		}
	})
	go func() {
		defer close(s.Events)
		for {
			ev, err := r.Next()
			if err != nil {
				if errors.Is(err, io.EOF) {
					err = nil
				}
				s.Done <- err
				return
			}
			ev.Data = bytes.Clone(ev.Data)
			s.Events <- ev
		}
	}()
	return s
}

// Next returns the next event, failing when the stream ends or nothing comes in time.
func (s *Stream) Next(t testing.TB) sse.Event {
	t.Helper()
	select {
	case ev, ok := <-s.Events:
		if !ok {
			t.Fatalf("stream ended while waiting for an event")
		}
		return ev
	case <-time.After(s.wait):
		t.Fatalf("no event within %s", s.wait)
	}
	return sse.Event{}
}

// Expect reads len(data) events and checks their data in order.
func (s *Stream) Expect(t testing.TB, data ...string) []sse.Event {
	t.Helper()
	evs := make([]sse.Event, 0, len(data))
	for i, want := range data {
		ev := s.Next(t)
		if string(ev.Data) != want {
			t.Fatalf("event %d: data %q, want %q (event %q id %q)", i, ev.Data, want, ev.Name, ev.ID)
		}
		evs = append(evs, ev)
	}
	return evs
}

// ExpectEnd waits until the server ends the stream, with no further event.
func (s *Stream) ExpectEnd(t testing.TB) {
	t.Helper()
	select {
	case ev, ok := <-s.Events:
		if ok {
			t.Fatalf("expected the stream to end, got event %q data %q", ev.Name, ev.Data)
		}
	case <-time.After(s.wait):
		t.Fatalf("stream did not end within %s", s.wait)
	}
}

// ExpectQuiet checks that no event arrives, and the stream does not end, for d.
func (s *Stream) ExpectQuiet(t testing.TB, d time.Duration) {
	t.Helper()
	select {
	case ev, ok := <-s.Events:
		if ok {
			t.Fatalf("unexpected event %q data %q id %q", ev.Name, ev.Data, ev.ID)
		}
		t.Fatalf("stream ended unexpectedly")
	case <-time.After(d):
	}
}

// Close ends the client side of the stream.
func (s *Stream) Close() { s.cancel() }
