package server

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sync/atomic"
	"time"

	"github.com/heraldpush/herald"
	"github.com/heraldpush/herald/hub"
)

// handleEvents serves GET /v1/events?topic=A&topic=B: the SSE stream.
//
// Only permanent client errors (bad topics) get a non-200 answer before the stream starts,
// and 204 when the stream's topics have all ended. Everything passing — an engine that is
// down, a cursor that cannot be resumed — is handled inside a 200 stream, because an
// EventSource gives up for good on any other status.
func (s *Server) handleEvents(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET")
		writeError(w, http.StatusMethodNotAllowed, "method_not_allowed", "use GET for the event stream")
		return
	}
	req, err := s.parseStreamRequest(r)
	if err != nil {
		status, code := errorStatus(err)
		if status == http.StatusInternalServerError {
			status, code = http.StatusBadRequest, "bad_request"
		}
		writeError(w, status, code, err.Error())
		return
	}
	if refuseMercureLog(w, req.Topics) { // mercure.go
		return
	}
	// Security hook (auth.go): auth, per-IP rate, connection slots, token expiry.
	release, ok := s.admitStream(w, r, &req)
	if !ok {
		return
	}
	defer func() { release() }() // a detached stream releases its slots when it ends
	if req.User == "" {
		req.User = s.streamUser(r) // presence hook (server/presence.go); the token's sub was set above
	}
	c := s.hub.Open(r.Context(), req)
	if c.Ended() {
		c.Release()
		w.WriteHeader(http.StatusNoContent)
		return
	}
	if r.Header.Get("Herald-Probe") != "" {
		// herald probe (package probe) asks which HTTP version the last proxy spoke to us.
		w.Header().Set("Herald-Request-Proto", r.Proto)
	}
	if s.detachableH2(w, r) && s.serveDetachedH2(w, c, release) {
		release = func() {}
		return
	}
	if s.detachable(r) && s.serveDetached(w, c, release) {
		release = func() {}
		return
	}
	h := w.Header()
	setStreamHeaders(h)
	if r.ProtoMajor == 1 {
		h.Set("Connection", "keep-alive")
	}
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodHead {
		c.Release()
		return
	}
	if r.ProtoMajor == 1 {
		s.boundSendBuffer(r)
	}
	switch c.Run(r.Context().Done(), newHTTPStream(w, r)) {
	case hub.ReasonSlowConsumer, hub.ReasonError:
		// Drop the connection (HTTP/2: reset the stream) rather than finish the response:
		// the client is not reading, and a clean end would leave it parked in keep-alive.
		panic(http.ErrAbortHandler)
	}
}

// parseStreamRequest reads the topics and the cursor of a stream request.
func (s *Server) parseStreamRequest(r *http.Request) (hub.Request, error) {
	q := r.URL.Query()
	raw := q["topic"]
	if len(raw) == 0 {
		return hub.Request{}, fmt.Errorf("%w: at least one topic parameter is required", herald.ErrInvalidTopic)
	}
	if len(raw) > s.cfg.MaxTopics {
		return hub.Request{}, fmt.Errorf("%w: %d topics, at most %d per stream", herald.ErrInvalidTopic, len(raw), s.cfg.MaxTopics)
	}
	topics := make([]herald.Topic, 0, len(raw))
	for _, name := range raw {
		t, err := herald.ParseTopic(name)
		if err != nil {
			return hub.Request{}, fmt.Errorf("topic %q: %w", truncate(name, 64), err)
		}
		topics = append(topics, t)
	}
	slices.Sort(topics)
	topics = slices.Compact(topics)

	req := hub.Request{Topics: topics}
	cursor := r.Header.Get("Last-Event-ID")
	if cursor == "" {
		cursor = q.Get("lastEventID")
	}
	if cursor == "" {
		cursor = q.Get("lastEventId")
	}
	switch {
	case cursor == "":
	case cursor == "earliest":
		req.Earliest = true
	default:
		c, err := herald.ParseCursor(cursor)
		switch {
		case errors.Is(err, herald.ErrInvalidCursor):
			req.CursorError = hub.ResetMalformed
		case err != nil:
			return hub.Request{}, err
		case len(c) != len(topics):
			req.CursorError = hub.ResetMismatch
		default:
			req.Cursor = c
		}
	}
	for i, t := range topics {
		if s.cfg.replayAll(t) {
			if req.Replay == nil {
				req.Replay = make([]bool, len(topics))
			}
			req.Replay[i] = true
		}
	}
	return req, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// httpStream writes a stream through net/http, flushing every write. It serves HTTP/1.1,
// HTTP/2 and TLS alike.
type httpStream struct {
	w           http.ResponseWriter
	r           *http.Request
	rc          *http.ResponseController
	interrupted atomic.Bool
}

func newHTTPStream(w http.ResponseWriter, r *http.Request) *httpStream {
	return &httpStream{w: w, r: r, rc: http.NewResponseController(w)}
}

func (s *httpStream) Write(p []byte, deadline time.Time) error {
	if s.interrupted.Load() {
		return errInterrupted
	}
	_ = s.rc.SetWriteDeadline(deadline)
	// Checked again after setting the deadline: an Interrupt that raced with us either set
	// its past deadline after ours, or we see its flag now and restore it. Either way no
	// later flush (net/http's own, when the handler ends) can block on a client that does
	// not read.
	if s.interrupted.Load() {
		_ = s.rc.SetWriteDeadline(time.Now())
		return errInterrupted
	}
	if _, err := s.w.Write(p); err != nil {
		return err
	}
	return s.rc.Flush()
}

func (s *httpStream) Interrupt() {
	s.interrupted.Store(true)
	_ = s.rc.SetWriteDeadline(time.Now())
}

var errInterrupted = errors.New("stream interrupted")

// setStreamHeaders sets the headers every event stream's response carries, whichever way it
// is written: the type, no caching, and no buffering by nginx (X-Accel-Buffering).
func setStreamHeaders(h http.Header) {
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
}
