package mercure

import (
	"context"
	"encoding/json"
	"time"

	"github.com/heraldpush/herald"
	"github.com/heraldpush/herald/hub"
	"github.com/heraldpush/herald/internal/wait"
	"github.com/heraldpush/herald/sse"
)

// idMap maps the Mercure ids of the log's recent updates to their sequence numbers. It keeps
// as many entries as the log retains events (HistorySize), oldest out first, so it lives and
// expires with the history; a resume still reads the history, which tells an id whose event
// was trimmed meanwhile.
type idMap struct {
	m    map[string]uint64
	fifo []idEntry // oldest first; fifo[start:] is live
	max  int
}

type idEntry struct {
	id  string
	seq uint64
}

func newIDMap(max int) idMap { return idMap{m: make(map[string]uint64), max: max} }

// add records id at seq (a newer update with the same id wins).
func (m *idMap) add(id string, seq uint64) {
	m.m[id] = seq
	m.fifo = append(m.fifo, idEntry{id, seq})
	m.trim()
}

// prepend records older entries (from the history read at start-up) where no newer entry
// has the id.
func (m *idMap) prepend(old []idEntry) {
	keep := old[:0:0]
	for _, e := range old {
		if _, ok := m.m[e.id]; !ok || m.m[e.id] < e.seq {
			keep = append(keep, e)
		}
	}
	for _, e := range keep {
		if cur, ok := m.m[e.id]; !ok || cur < e.seq {
			m.m[e.id] = e.seq
		}
	}
	m.fifo = append(keep, m.fifo...)
	m.trim()
}

func (m *idMap) trim() {
	over := len(m.fifo) - m.max
	if over <= 0 {
		return
	}
	for _, e := range m.fifo[:over] {
		if m.m[e.id] == e.seq {
			delete(m.m, e.id)
		}
	}
	if over >= len(m.fifo)/2 {
		m.fifo = append([]idEntry(nil), m.fifo[over:]...)
	} else {
		m.fifo = m.fifo[over:]
	}
}

func (m *idMap) reset() {
	clear(m.m)
	m.fifo = nil
}

// follower receives the log topic's events from the node's hub, in order, under the topic's
// lock: it must not block, and it does not (enqueueing never waits).
type follower struct{ h *Hub }

// Event dispatches one update to the matching subscribers.
func (f follower) Event(ev *herald.Event) {
	h := f.h
	u, err := decodeUpdate(ev.Data)
	h.mu.Lock()
	defer h.mu.Unlock()
	h.epoch, h.head, h.headID = ev.Epoch, ev.Seq, ""
	if err != nil {
		h.log.Warn("mercure: skipping a log event that is not an update", "seq", ev.Seq, "err", err)
		return
	}
	h.headID = u.ID
	h.ids.add(u.ID, ev.Seq)
	h.trackLocked(u) // subscriptions.go
	if h.catching {
		h.pending = append(h.pending, pendingUpdate{u, ev.Seq})
		return
	}
	h.dispatchLocked(u, ev.Seq)
}

// pendingUpdate is a live update held back while the node catches up.
type pendingUpdate struct {
	u   *update
	seq uint64
}

// Reset reports that the node missed log events (trimmed while it was cut off from the
// broker) or that the log's history was lost (a new epoch).
func (f follower) Reset(reason hub.ResetReason, pos herald.Position) {
	h := f.h
	h.mu.Lock()
	defer h.mu.Unlock()
	if pos.Epoch != h.epoch {
		h.ids.reset()
	}
	h.epoch, h.head, h.headID = pos.Epoch, pos.Seq, ""
	if reason == hub.ResetEpoch && pos.Seq > 0 && !h.catching && h.ctx.Err() == nil {
		// The log started a new epoch (its history expired while idle, or the broker lost
		// it) and the node moved to the new head without handing out the updates before
		// it: they are in the new epoch's history, so read and dispatch them first.
		h.catching = true
		h.wg.Add(1)
		go h.catchUp(pos)
		return
	}
	h.log.Warn("mercure: the node's log position jumped; subscribers may have missed updates", "reason", reason)
	if !h.cfg.Reset {
		return
	}
	frame := resetFrame(string(reason))
	for s := range h.subs {
		s.enqueue(queued{buf: frame})
	}
}

// catchUp dispatches the updates of a new epoch up to pos, which the node skipped, then the
// live updates that arrived meanwhile, in order.
func (h *Hub) catchUp(pos herald.Position) {
	defer h.wg.Done()
	var got []pendingUpdate
	var after uint64
	for after < pos.Seq && h.ctx.Err() == nil {
		ctx, cancel := context.WithTimeout(h.ctx, 10*time.Second)
		hist, err := h.engine.History(ctx, LogTopic, after, historyPage)
		cancel()
		if err != nil {
			h.log.Warn("mercure: reading a new epoch's first updates failed; retrying", "err", err)
			if !wait.Sleep(h.ctx, time.Second) {
				break
			}
			continue
		}
		if hist.State.Epoch != pos.Epoch || len(hist.Events) == 0 {
			break
		}
		for i := range hist.Events {
			ev := &hist.Events[i]
			if ev.Seq > pos.Seq {
				after = pos.Seq
				break
			}
			after = ev.Seq
			if u, err := decodeUpdate(ev.Data); err == nil {
				got = append(got, pendingUpdate{u, ev.Seq})
			}
		}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.epoch == pos.Epoch {
		old := make([]idEntry, 0, len(got))
		for _, p := range got {
			old = append(old, idEntry{p.u.ID, p.seq})
		}
		h.ids.prepend(old)
		for _, p := range got {
			if h.head == pos.Seq && p.seq == pos.Seq {
				h.headID = p.u.ID
			}
			h.trackLocked(p.u)
			h.dispatchLocked(p.u, p.seq)
		}
	}
	for _, p := range h.pending {
		h.dispatchLocked(p.u, p.seq)
	}
	h.catching, h.pending = false, nil
}

// resetFrame is Herald's "event: reset" for Mercure streams (only with Config.Reset).
func resetFrame(reason string) []byte {
	data, _ := json.Marshal(map[string]string{"reason": reason})
	return sse.AppendEvent(nil, herald.ResetEventName, data)
}

// dispatchLocked queues u's frame on every subscriber it is for. The frame is encoded once,
// and only when some subscriber matches.
func (h *Hub) dispatchLocked(u *update, seq uint64) {
	if h.idx.n == 0 {
		return
	}
	h.dispatch++
	var frame []byte
	h.idx.each(u.Topics, h.dispatch, func(s *subscriber) {
		if u.Private && !s.canReceivePrivate(u.Topics) {
			return
		}
		if frame == nil {
			frame = u.frame()
		}
		s.enqueue(queued{seq: seq, buf: frame})
	})
}

// follow starts following the log (retrying until the hub closes), reads the retained
// history once to learn the ids of updates published before this node followed, and marks
// the hub ready.
func (h *Hub) follow() {
	var head herald.Position
	var stop func()
	backoff := 50 * time.Millisecond
	for {
		var err error
		head, stop, err = h.opts.Hub.Follow(h.ctx, LogTopic, follower{h})
		if err == nil {
			break
		}
		if h.ctx.Err() != nil {
			return
		}
		h.log.Warn("mercure: following the log failed; retrying", "err", err)
		if !wait.Sleep(h.ctx, backoff) {
			return
		}
		backoff = min(backoff*2, 2*time.Second)
	}
	h.mu.Lock()
	h.stop = stop
	if !h.followed && h.epoch == "" {
		h.epoch, h.head = head.Epoch, head.Seq
	}
	h.followed = true
	h.mu.Unlock()

	old, lastID, system := h.readIDs(head)
	h.mu.Lock()
	if h.epoch == head.Epoch {
		h.ids.prepend(old)
		if h.head == head.Seq && h.headID == "" {
			h.headID = lastID
		}
		// Subscription events from before the node followed, in order, under the ones
		// that arrived live meanwhile.
		live := h.liveTracked
		h.liveTracked = nil
		h.active = make(map[string]*tracked)
		for _, u := range system {
			h.trackLocked(u)
		}
		for id, s := range live {
			if s == nil {
				delete(h.active, id)
			} else {
				h.active[id] = s
			}
		}
	}
	h.liveTracked = nil
	close(h.ready)
	h.mu.Unlock()
}

// readIDs reads the log's retained history up to head and returns its ids, oldest first,
// and the id of the event at head.
func (h *Hub) readIDs(head herald.Position) (ids []idEntry, lastID string, system []*update) {
	var after uint64
	backoff := 50 * time.Millisecond
	for after < head.Seq && h.ctx.Err() == nil {
		ctx, cancel := context.WithTimeout(h.ctx, 10*time.Second)
		hist, err := h.engine.History(ctx, LogTopic, after, historyPage)
		cancel()
		if err != nil {
			h.log.Warn("mercure: reading the log's history failed; retrying", "err", err)
			if !wait.Sleep(h.ctx, backoff) {
				return ids, lastID, system
			}
			backoff = min(backoff*2, 2*time.Second)
			continue
		}
		if hist.State.Epoch != head.Epoch || len(hist.Events) == 0 {
			break
		}
		for i := range hist.Events {
			ev := &hist.Events[i]
			if ev.Seq > head.Seq {
				return ids, lastID, system
			}
			after = ev.Seq
			if u, err := decodeUpdate(ev.Data); err == nil {
				ids = append(ids, idEntry{u.ID, ev.Seq})
				if ev.Seq == head.Seq {
					lastID = u.ID
				}
				if u.System {
					system = append(system, u)
				}
			}
		}
	}
	return ids, lastID, system
}

// lookup finds the log position of a Mercure id: in the map, else among the events after
// the node's head that the node has not seen yet (a client that got an update from a node
// ahead of this one). "earliest" is the start of the retained log.
func (h *Hub) lookup(ctx context.Context, id string) (herald.Position, bool) {
	h.mu.Lock()
	epoch, head := h.epoch, h.head
	seq, ok := h.ids.m[id]
	h.mu.Unlock()
	if id == earliest {
		return herald.Position{Epoch: epoch}, true
	}
	if ok {
		return herald.Position{Epoch: epoch, Seq: seq}, true
	}
	hist, err := h.engine.History(ctx, LogTopic, head, historyPage)
	if err != nil || hist.State.Epoch != epoch {
		return herald.Position{}, false
	}
	for i := range hist.Events {
		if u, err := decodeUpdate(hist.Events[i].Data); err == nil && u.ID == id {
			return hist.Events[i].Position, true
		}
	}
	return herald.Position{}, false
}

// earliest asks for the whole retained history.
const earliest = "earliest"

var _ hub.Follower = follower{}
