package memory

import (
	"context"
	"log/slog"
	"time"
)

// janitor drops expired events and forgets idle topics every e.interval until Close. Lazy
// expiry on access keeps answers exact; the janitor only returns memory of topics nobody
// touches any more.
func (e *Engine) janitor() {
	defer close(e.done)
	tick := time.NewTicker(e.interval)
	defer tick.Stop()
	for {
		select {
		case <-e.stop:
			return
		case <-tick.C:
			if n := e.sweep(); n > 0 && e.log.Enabled(context.Background(), slog.LevelDebug) {
				e.log.Debug("memory engine forgot idle topics", "topics", n)
			}
		}
	}
}

// sweep expires every topic's old events, one shard at a time so publishers wait at most
// one shard's scan, and returns how many topics it forgot.
func (e *Engine) sweep() int {
	forgot := 0
	for i := range e.shards {
		s := &e.shards[i]
		s.mu.Lock()
		now := e.now().UnixNano()
		for name := range s.topics {
			if e.lookupLocked(s, name, now) == nil {
				forgot++
			}
		}
		s.mu.Unlock()
	}
	return forgot
}
