package hub

import "time"

// Housekeeping: heartbeats for idle streams and the end of streams past their lifetime, for
// every stream of the node, without a timer per connection.
//
// Each connection shard keeps a timing wheel of wheelSlots slots covering one heartbeat
// interval. A stream sits in the slot of its next duty (its last write plus the interval, or
// its deadline if that comes first). One housekeeping goroutine ticks every interval/wheelSlots
// and visits the slot whose time has come: a stream that was written to since it was placed
// moves on to its new due slot (writes never touch the wheel), an idle one gets the heartbeat,
// one past its deadline is ended. So a heartbeat comes within one tick (5% of the interval)
// of its time, and each stream is visited about once per interval whatever the tick.

// wheelSlots is the number of slots of a heartbeat interval: the heartbeat's precision.
const wheelSlots = 20

// wheelTick returns the housekeeping tick for a heartbeat interval.
func wheelTick(heartbeat time.Duration) time.Duration {
	return max(heartbeat/wheelSlots, time.Millisecond)
}

// nextDuty returns when c next needs housekeeping (Unix nanoseconds).
func (h *Hub) nextDuty(c *Conn) int64 {
	next := c.lastWrite.Load() + int64(h.opts.Heartbeat)
	if c.deadline != 0 && c.deadline < next {
		next = c.deadline
	}
	return next
}

// placeLocked puts c in the slot of time at, or of the next tick if at has passed.
func (s *connShard) placeLocked(c *Conn, at int64, tick int64, current int64) {
	k := at / tick
	if k <= current {
		k = current + 1
	}
	slot := &s.wheel[k%wheelSlots]
	c.wslot, c.widx = int32(k%wheelSlots), int32(len(*slot))
	*slot = append(*slot, c)
}

// unplaceLocked takes c out of its slot.
func (s *connShard) unplaceLocked(c *Conn) {
	if c.widx < 0 {
		return
	}
	slot := &s.wheel[c.wslot]
	last := len(*slot) - 1
	moved := (*slot)[last]
	(*slot)[c.widx] = moved
	moved.widx = c.widx
	(*slot)[last] = nil
	*slot = (*slot)[:last]
	c.widx = -1
}

// housekeep runs the wheels until the hub closes.
func (h *Hub) housekeep() {
	tick := wheelTick(h.opts.Heartbeat)
	t := time.NewTicker(tick)
	defer t.Stop()
	done := time.Now().UnixNano() / int64(tick) // the last tick whose slot was visited
	var due, expired []*Conn
	for {
		select {
		case <-h.ctx.Done():
			return
		case now := <-t.C:
			nowNs := now.UnixNano()
			current := nowNs / int64(tick)
			if h.opts.HeartbeatEvent != "" {
				h.heartbeat.Store(newHeartbeatFrame(h.opts.HeartbeatEvent, nowNs))
			}
			// A late tick visits every slot it skipped (at most a whole turn).
			for k := max(done+1, current-wheelSlots+1); k <= current; k++ {
				for i := range h.conns {
					due, expired = h.conns[i].visit(h, k, current, nowNs, int64(tick), due[:0], expired[:0])
					hb := h.heartbeat.Load()
					for _, c := range due {
						c.enqueue(hb, -1)
					}
					for _, c := range expired {
						c.close(ReasonLifetime)
					}
				}
			}
			done = current
			clear(due)
			clear(expired)
		}
	}
}

// visit visits the slot of tick k: it moves streams written to since they were placed,
// and returns those that need a heartbeat and those past their deadline (re-placed already).
func (s *connShard) visit(h *Hub, k, current, nowNs, tick int64, due, expired []*Conn) ([]*Conn, []*Conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	slot := s.wheel[k%wheelSlots]
	s.wheel[k%wheelSlots] = s.spare[:0]
	for _, c := range slot {
		c.widx = -1
		next := h.nextDuty(c)
		if next <= nowNs+tick/2 {
			if c.deadline != 0 && nowNs >= c.deadline {
				expired = append(expired, c)
				next = nowNs + int64(h.opts.Heartbeat) // until finish takes it out
			} else {
				due = append(due, c)
				c.lastWrite.Store(nowNs)
				next = h.nextDuty(c)
			}
		}
		s.placeLocked(c, next, tick, current)
	}
	clear(slot)
	s.spare = slot[:0]
	return due, expired
}
