package bench

// seqCheck follows the sequence numbers (1, 2, 3, …) of the events one subscriber receives on
// one topic, and sorts every published number into exactly one class:
//
//   - unique: received for the first time;
//   - lost (gaps): jumped over within a stretch, or never received by the end;
//   - skipped: jumped over by the first event after an `event: reset`, or not received
//     after a reset that no event followed: the reset told the client that these events
//     will not come (it refetches its state instead), so they are not lost;
//
// and counts what arrives more than once:
//
//   - duplicated: a number at or below one already received in the same stretch (no
//     reset in between): the server sent an event twice;
//   - replayed: a number already accounted for, received again in the stretch a reset
//     began (the reset moved the client's position back): not a duplicate of the stream
//     the client now follows, but a client that applied the event before the reset sees
//     it twice.
//
// A stretch is the run of events between two resets; the first event after a reset starts
// one, wherever it is. Resets themselves are counted by the caller. For every subscriber
// unique + lost + skipped = published, so that Result.Lost = Expected − Unique − Skipped.
type seqCheck struct {
	next  uint64 // the number expected next in the current stretch
	high  uint64 // every number up to high is received, lost or skipped
	reset bool   // a reset arrived and no event since

	// Tallies since the caller last took them.
	unique, dup, gaps, skipped, replayed uint64
}

// start prepares a check for a topic whose first event is 1.
func (c *seqCheck) start() { *c = seqCheck{next: 1} }

// event classifies a received event.
func (c *seqCheck) event(seq uint64) {
	if c.reset {
		c.reset = false
		if seq > c.high+1 {
			c.skipped += seq - c.high - 1
			c.high = seq - 1
		}
		c.next = seq
	}
	switch {
	case seq == c.next:
	case seq > c.next:
		if seq > c.high+1 {
			c.gaps += seq - c.high - 1
		}
	default:
		c.dup++
		return
	}
	c.next = seq + 1
	if seq > c.high {
		c.unique++
		c.high = seq
	} else {
		c.replayed++
	}
}

// resetSeen records an `event: reset`.
func (c *seqCheck) resetSeen() { c.reset = true }

// end closes the check once published events were due: a reset that no event followed
// skipped the rest. It reports whether every number is accounted for without loss.
func (c *seqCheck) end(published uint64) (complete bool) {
	if c.high >= published {
		return true
	}
	if c.reset {
		c.skipped += published - c.high
		c.high = published
		return true
	}
	return false
}
