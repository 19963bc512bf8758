package presence

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// Store operations, the op label of herald_presence_store_errors_total.
const (
	opWrite = "write" // a heartbeat, change or goodbye write of this node's shares
	opRead  = "read"  // a read of a topic's or user's presence
)

// newStoreErrors returns the herald_presence_store_errors_total counter, registered with reg
// when reg is not nil (or the one already registered there), with both op series at zero.
func newStoreErrors(reg prometheus.Registerer) *prometheus.CounterVec {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "herald_presence_store_errors_total",
		Help: "Presence store operations that failed, by op (write, read).",
	}, []string{"op"})
	if reg != nil {
		if err := reg.Register(c); err != nil {
			var are prometheus.AlreadyRegisteredError
			if errors.As(err, &are) {
				if existing, ok := are.ExistingCollector.(*prometheus.CounterVec); ok {
					c = existing
				}
			}
		}
	}
	for _, op := range []string{opWrite, opRead} {
		c.WithLabelValues(op)
	}
	return c
}
