package mercure

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/heraldpush/herald"
)

// serveSubscribe handles GET /.well-known/mercure: authorise, parse the selectors, register
// at the node's log position, answer the headers and a comment at once, replay the history
// after Last-Event-ID, then write live updates until the client leaves, the token expires,
// the subscriber falls too far behind or the node shuts down.
func (h *Hub) serveSubscribe(w http.ResponseWriter, r *http.Request) {
	var g *grant
	if h.sub.auth != nil {
		var err error
		g, err = h.sub.authorize(r.Context(), r, false)
		if err != nil || (g == nil && !h.cfg.Anonymous) {
			h.authError(w, r, err, "subscriber")
			return
		}
	}
	q := r.URL.Query()
	topics := q["topic"]
	switch {
	case len(topics) == 0:
		http.Error(w, `Missing "topic" parameter.`, http.StatusBadRequest)
		return
	case len(topics) > h.cfg.MaxTopics:
		http.Error(w, "too many \"topic\" parameters (at most "+strconv.Itoa(h.cfg.MaxTopics)+")", http.StatusBadRequest)
		return
	}
	for _, t := range topics {
		if err := checkSelector(t); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
	}
	lastID := lastEventID(r)
	s := newSubscriber(h.opts.MaxQueueBytes)
	s.id = "urn:uuid:" + newUUIDv7(time.Now())
	s.topics, s.grant, s.remote, s.lastSeen = topics, g, r.RemoteAddr, lastID
	for _, t := range topics {
		s.sels = append(s.sels, h.cache.get(t))
	}
	if g != nil {
		s.private = g.subscribe
	}

	wr := &writer{w: w, rc: http.NewResponseController(w), timeout: h.opts.WriteTimeout}
	hd := w.Header()
	setStreamHeaders(hd)
	committed := false
	if !h.waitReady(r.Context()) {
		// The engine is slow or down: commit the stream at once and wait, with heartbeats
		// (an EventSource gives up for good on a non-200 answer). The Last-Event-ID header
		// cannot name the head then.
		if r.Context().Err() != nil || wr.write([]byte(":\n")) != nil || !h.waitReadyBeating(r.Context(), wr) {
			return
		}
		committed = true
	}
	// Resolve the cursor before registering: a lookup may read history.
	var from herald.Position
	known := false
	if lastID != "" {
		from, known = h.lookup(r.Context(), lastID)
	}
	head, headID, ok := h.register(s, from, known)
	if !ok && committed {
		return
	}
	if !ok {
		// The node is shutting down: an empty 200 stream makes EventSource reconnect (to
		// another node), where a 503 would make it give up for good.
		if lastID != "" {
			hd.Set("Last-Event-ID", lastID)
		}
		_, _ = w.Write([]byte(":\n"))
		return
	}
	defer h.unregister(s)
	h.announce(r.Context(), s, true) // subscriptions.go

	if lastID != "" && !committed {
		if headID == "" {
			headID = earliest
		}
		hd.Set("Last-Event-ID", headID)
	}
	if r.Method == http.MethodHead {
		w.WriteHeader(http.StatusOK)
		return
	}
	if !committed {
		if err := wr.write([]byte(":\n")); err != nil {
			return
		}
	}
	if lastID != "" && known && from.Epoch == head.Epoch && from.Seq < head.Seq {
		if !h.replay(r.Context(), s, wr, from, head) {
			return
		}
	} else if lastID != "" && !known && h.cfg.Reset {
		if err := wr.write(resetFrame("unknown")); err != nil {
			return
		}
	}
	var expires time.Time
	if g != nil {
		expires = g.expires
	}
	reason := s.serve(wr, r.Context().Done(), h.opts.Heartbeat, expires)
	h.log.Debug("mercure: stream ended", "subscriber", s.id, "reason", reason)
}

// setStreamHeaders sets the headers of an event stream as the reference hub sends them.
func setStreamHeaders(hd http.Header) {
	hd.Set("Content-Type", "text/event-stream")
	hd.Set("Cache-Control", "private, no-cache, no-store, must-revalidate, max-age=0")
	hd.Set("Pragma", "no-cache")
	hd.Set("Expire", "0")
	hd.Set("X-Accel-Buffering", "no")
}

// lastEventID returns the client's last event id: the Last-Event-ID header, then the
// lastEventID query parameter, then the legacy Last-Event-ID query parameter.
func lastEventID(r *http.Request) string {
	if id := r.Header.Get("Last-Event-ID"); id != "" {
		return id
	}
	q := r.URL.Query()
	if id := q.Get("lastEventID"); id != "" {
		return id
	}
	return q.Get("Last-Event-ID")
}

// waitReady waits (up to Options.ReadyWait) until the node follows the log.
func (h *Hub) waitReady(ctx context.Context) bool {
	t := time.NewTimer(h.opts.ReadyWait)
	defer t.Stop()
	select {
	case <-h.ready:
		return true
	case <-ctx.Done():
	case <-t.C:
	}
	return false
}

// waitReadyBeating waits until the node follows the log, writing a heartbeat comment every
// Heartbeat; false when the client left, a write failed or the hub closed.
func (h *Hub) waitReadyBeating(ctx context.Context, wr *writer) bool {
	t := time.NewTicker(h.opts.Heartbeat)
	defer t.Stop()
	for {
		select {
		case <-h.ready:
			return true
		case <-ctx.Done():
			return false
		case <-h.ctx.Done():
			return false
		case <-t.C:
			if wr.write([]byte(":\n")) != nil {
				return false
			}
		}
	}
}

// register adds s to the index at the node's current log position, which it returns with
// the id of the update there. Live updates after it queue on s from now on. A cursor ahead
// of the node (the client saw an update this node has not yet) makes s skip the updates up
// to it.
func (h *Hub) register(s *subscriber, from herald.Position, known bool) (head herald.Position, headID string, ok bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.draining {
		return head, "", false
	}
	head = herald.Position{Epoch: h.epoch, Seq: h.head}
	if known && from.Epoch == h.epoch && from.Seq > h.head {
		s.after = from.Seq
	}
	if h.catching && s.after < h.head {
		// Updates up to head that a catch-up dispatches later are not for a stream that
		// starts at head (its replay covers them).
		s.after = h.head
	}
	h.idx.add(s)
	h.subs[s] = struct{}{}
	return head, h.headID, true
}

func (h *Hub) unregister(s *subscriber) {
	s.close(reasonClient)
	h.mu.Lock()
	if _, ok := h.subs[s]; ok {
		delete(h.subs, s)
		h.idx.remove(s)
	}
	h.mu.Unlock()
	if h.cfg.Subscriptions {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		h.announce(ctx, s, false)
	}
}

// replay writes the updates for s after from up to head, from the log's history. If the
// history no longer holds the update after from (trimmed), nothing is replayed: the stream
// goes on from now, as for an unknown id (with Config.Reset, after an "event: reset").
func (h *Hub) replay(ctx context.Context, s *subscriber, wr *writer, from, head herald.Position) bool {
	after := from.Seq
	first := true
	for after < head.Seq {
		rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		hist, err := h.engine.History(rctx, LogTopic, after, historyPage)
		cancel()
		if err != nil {
			h.log.Warn("mercure: history read for a resume failed", "err", err)
			return false
		}
		if hist.State.Epoch != head.Epoch || len(hist.Events) == 0 {
			return true
		}
		if first && from.Seq > 0 && hist.Events[0].Prev != from.Seq {
			if h.cfg.Reset {
				return wr.write(resetFrame("expired")) == nil
			}
			return true
		}
		first = false
		buf := wr.buf[:0]
		past := false
		for i := range hist.Events {
			ev := &hist.Events[i]
			if ev.Seq > head.Seq {
				past = true
				break
			}
			after = ev.Seq
			u, err := decodeUpdate(ev.Data)
			if err != nil || !s.matches(u) {
				continue
			}
			buf = append(buf, u.frame()...)
		}
		if len(buf) > 0 {
			if err := wr.write(buf); err != nil {
				return false
			}
		}
		wr.buf = buf[:0]
		if past {
			break
		}
	}
	return true
}
