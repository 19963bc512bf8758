package memory

import (
	"math"

	"github.com/heraldpush/herald"
)

// minRingCap is the first capacity a ring grows to; it then doubles up to the topic's
// retention size, so a topic with few events costs few bytes.
const minRingCap = 8

// ring is a topic's retained events, oldest first, in a circular buffer that grows by
// doubling up to a bound and shrinks when it empties or is mostly unused. The zero ring is
// empty. It is not safe for concurrent use: the shard lock guards it.
//
// head and n are 32-bit so that a topic, with its other fields, fits the 96-byte size class
// (issue 17: a topic per stream); a topic's retention size is bounded to match (maxRingSize).
type ring struct {
	buf  []herald.Event
	head int32 // index of the oldest event in buf
	n    int32 // number of events held
}

// maxRingSize is the most events a ring holds.
const maxRingSize = math.MaxInt32

// len returns the number of events held.
func (r *ring) len() int { return int(r.n) }

// at returns the i-th oldest event (0 is the oldest). i must be in [0, r.len()).
func (r *ring) at(i int) *herald.Event {
	j := int(r.head) + i
	if j >= len(r.buf) {
		j -= len(r.buf)
	}
	return &r.buf[j]
}

// oldest returns the oldest event, or nil when the ring is empty.
func (r *ring) oldest() *herald.Event {
	if r.n == 0 {
		return nil
	}
	return &r.buf[r.head]
}

// push appends ev, dropping the oldest event when the ring already holds max events.
// It returns a pointer to the stored copy, valid until the next change to the ring.
func (r *ring) push(ev herald.Event, max int) *herald.Event {
	if int(r.n) >= max {
		for int(r.n) >= max && r.n > 0 {
			r.dropOldest()
		}
	}
	if int(r.n) == len(r.buf) {
		c := 2 * len(r.buf)
		if c < minRingCap {
			c = minRingCap
		}
		if c > max {
			c = max
		}
		r.resize(c)
	}
	i := int(r.head) + int(r.n)
	if i >= len(r.buf) {
		i -= len(r.buf)
	}
	r.buf[i] = ev
	r.n++
	return &r.buf[i]
}

// dropOldest removes the oldest event, clearing its slot so its data can be collected.
func (r *ring) dropOldest() {
	r.buf[r.head] = herald.Event{}
	r.head++
	if int(r.head) == len(r.buf) {
		r.head = 0
	}
	r.n--
}

// compact releases memory the ring no longer needs: all of it when empty, half of it when
// at most a quarter is used.
func (r *ring) compact() {
	switch {
	case r.n == 0:
		*r = ring{}
	case len(r.buf) > minRingCap && int(r.n) <= len(r.buf)/4:
		r.resize(len(r.buf) / 2)
	}
}

// resize moves the events into a new buffer of capacity c >= r.n, oldest first.
func (r *ring) resize(c int) {
	buf := make([]herald.Event, c)
	head, n := int(r.head), int(r.n)
	k := copy(buf, r.buf[head:min(len(r.buf), head+n)])
	copy(buf[k:], r.buf[:n-k])
	r.buf = buf
	r.head = 0
}
