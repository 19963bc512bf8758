// Package wait holds the one context-aware sleep that background loops (retries, back-offs,
// pacing) share.
package wait

import (
	"context"
	"time"
)

// Sleep waits d or until ctx ends, whichever comes first; it reports whether the whole d
// elapsed with ctx still live. A d of zero or less returns at once with ctx's state.
func Sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
