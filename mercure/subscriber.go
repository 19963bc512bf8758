package mercure

import (
	"errors"
	"net/http"
	"sync"
	"time"
)

// closeReason says why a subscriber's stream ended; it is logged.
type closeReason string

const (
	reasonNone         closeReason = ""
	reasonClient       closeReason = "client_closed"
	reasonSlowConsumer closeReason = "slow_consumer"
	reasonExpired      closeReason = "token_expired"
	reasonShutdown     closeReason = "shutdown"
	reasonWriteError   closeReason = "write_error"
)

// queued is one frame waiting for a subscriber's writer, with the log position of its update
// (0 for frames without one).
type queued struct {
	seq uint64
	buf []byte // shared by every subscriber the update reached; never modified
}

// subscriber is one Mercure stream: its selectors, what its token lets it receive, and the
// bounded queue between the dispatcher (which never blocks) and its writer goroutine.
type subscriber struct {
	id       string // urn:uuid:…, names it in the subscriptions API
	topics   []string
	sels     []*selector
	grant    *grant // nil: anonymous
	private  []*selector
	remote   string
	lastSeen string // the Last-Event-ID the client sent

	mark  uint64 // the dispatch number of the last update offered to it; guarded by Hub.mu
	slots []int  // where each of sels sits in its index set; guarded by Hub.mu

	mu       sync.Mutex
	q        []queued
	qbytes   int
	maxBytes int
	after    uint64 // frames with seq ≤ after are dropped (the client already has them)
	reason   closeReason
	wake     chan struct{}
	done     chan struct{}
}

func newSubscriber(maxBytes int) *subscriber {
	return &subscriber{maxBytes: maxBytes, wake: make(chan struct{}, 1), done: make(chan struct{})}
}

// matches reports whether u is for this subscriber: one of its topics is selected and, for a
// private update, one of its topics is allowed by the token's mercure.subscribe.
func (s *subscriber) matches(u *update) bool {
	if !matchAny(s.sels, u.Topics) {
		return false
	}
	return !u.Private || s.canReceivePrivate(u.Topics)
}

func (s *subscriber) canReceivePrivate(topics []string) bool {
	return len(s.private) > 0 && matchAny(s.private, topics)
}

// enqueue queues a frame without blocking; a queue over its byte bound closes the stream as a
// slow consumer (the client resumes with Last-Event-ID).
func (s *subscriber) enqueue(q queued) {
	s.mu.Lock()
	if s.reason != reasonNone {
		s.mu.Unlock()
		return
	}
	if s.qbytes+len(q.buf) > s.maxBytes {
		s.closeLocked(reasonSlowConsumer)
		s.mu.Unlock()
		return
	}
	s.q = append(s.q, q)
	s.qbytes += len(q.buf)
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// close ends the stream; the first reason wins.
func (s *subscriber) close(r closeReason) {
	s.mu.Lock()
	s.closeLocked(r)
	s.mu.Unlock()
}

func (s *subscriber) closeLocked(r closeReason) {
	if s.reason == reasonNone {
		s.reason = r
		s.q, s.qbytes = nil, 0
		close(s.done)
	}
}

// take swaps the queue out.
func (s *subscriber) take(spare []queued) (q []queued, after uint64, reason closeReason) {
	s.mu.Lock()
	defer s.mu.Unlock()
	q, s.q = s.q, spare[:0]
	s.qbytes = 0
	return q, s.after, s.reason
}

// writer writes one subscriber's stream to its response.
type writer struct {
	w       http.ResponseWriter
	rc      *http.ResponseController
	timeout time.Duration
	buf     []byte
}

// write writes b and flushes it within the write timeout.
func (w *writer) write(b []byte) error {
	if w.timeout > 0 {
		if err := w.rc.SetWriteDeadline(time.Now().Add(w.timeout)); err != nil && !errors.Is(err, http.ErrNotSupported) {
			return err
		}
	}
	if _, err := w.w.Write(b); err != nil {
		return err
	}
	return w.rc.Flush()
}

// serve writes queued frames until the stream ends, with a heartbeat comment after each idle
// interval; expires (zero: never) ends it when the token expires.
func (s *subscriber) serve(w *writer, ctxDone <-chan struct{}, heartbeat time.Duration, expires time.Time) closeReason {
	hb := time.NewTimer(heartbeat)
	defer hb.Stop()
	var expC <-chan time.Time
	if !expires.IsZero() {
		t := time.NewTimer(time.Until(expires))
		defer t.Stop()
		expC = t.C
	}
	var spare []queued
	for {
		select {
		case <-ctxDone:
			return reasonClient
		case <-s.done:
			return s.finalReason()
		case <-expC:
			return reasonExpired
		case <-hb.C:
			if err := w.write([]byte(":\n")); err != nil {
				return reasonWriteError
			}
			hb.Reset(heartbeat)
		case <-s.wake:
			q, after, reason := s.take(spare)
			if reason != reasonNone {
				return reason
			}
			b := w.buf[:0]
			for i := range q {
				if q[i].seq != 0 && q[i].seq <= after {
					continue
				}
				b = append(b, q[i].buf...)
				q[i] = queued{}
			}
			spare = q
			w.buf = b[:0]
			if len(b) == 0 {
				continue
			}
			if cap(w.buf) > 64<<10 {
				w.buf = nil // do not keep a burst's buffer for an idle stream
			}
			if err := w.write(b); err != nil {
				return reasonWriteError
			}
			hb.Reset(heartbeat)
		}
	}
}

func (s *subscriber) finalReason() closeReason {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.reason
}
