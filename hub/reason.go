package hub

// Reasons: why a stream ended (Reason) and why a stream was sent an "event: reset"
// (ResetReason). Each is one closed set of values; the same values label the metrics
// (herald_disconnects_total, herald_resets_total) and the log lines.

// Reason says why a stream ended. The same values label the
// herald_disconnects_total metric and the connection-end log line.
type Reason uint8

// Close reasons.
const (
	ReasonClientClosed Reason = iota // the client went away
	ReasonLifetime                   // the configured max lifetime passed
	ReasonSlowConsumer               // the connection's queue bound was hit
	ReasonShutdown                   // the node is draining
	ReasonFinal                      // every topic of the stream was closed by a final event
	ReasonError                      // a write failed or the engine could not serve the stream
	numReasons
)

var reasonNames = [numReasons]string{"client_closed", "lifetime", "slow_consumer", "shutdown", "final", "error"}

// String returns the reason's label value, e.g. "slow_consumer".
func (r Reason) String() string {
	if r < numReasons {
		return reasonNames[r]
	}
	return "unknown"
}

// Reasons lists every close reason, for metric initialisation.
func Reasons() []Reason {
	rs := make([]Reason, numReasons)
	for i := range rs {
		rs[i] = Reason(i)
	}
	return rs
}

// graceful reports whether a stream that ends for r gets its queue and the chunked
// terminator: the client is reading, and a clean end tells it so.
func graceful(r Reason) bool {
	return r == ReasonFinal || r == ReasonLifetime || r == ReasonShutdown
}

// ResetReason says why a stream was sent an "event: reset". Its string is the reason in the
// reset event's data and the herald_resets_total label.
type ResetReason string

// Reset reasons.
const (
	ResetExpired   ResetReason = "expired"   // the cursor is older than the retained history
	ResetEpoch     ResetReason = "epoch"     // the history the cursor points into was lost
	ResetMalformed ResetReason = "malformed" // the cursor could not be parsed or points past the head
	ResetMismatch  ResetReason = "mismatch"  // the cursor names a different number of topics
)

// ResetReasons lists every reset reason, for metric initialisation.
func ResetReasons() []ResetReason {
	return []ResetReason{ResetExpired, ResetEpoch, ResetMalformed, ResetMismatch}
}
