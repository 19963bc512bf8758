package hub

// The observer: what the hub tells metrics and logs about its streams.

import "time"

// ConnInfo describes an ended connection for observers.
type ConnInfo struct {
	User     string // token subject, "" when anonymous
	Topics   int
	Bytes    int64 // bytes written to the client
	Events   int64 // events delivered
	Duration time.Duration
	Reason   Reason
}

// Observer receives the hub's events for metrics and logs. Methods are called on hot paths and
// must be cheap and non-blocking. NopObserver is a valid do-nothing implementation.
type Observer interface {
	// ConnOpened is called when a stream starts.
	ConnOpened()
	// ConnClosed is called once when a stream ends.
	ConnClosed(info ConnInfo)
	// Delivered is called after a write that carried n events to one connection; latency
	// holds, for each event, the time from its acceptance (or the publisher's send time when
	// it gave one) to the write, in nanoseconds. The slice is reused after the call.
	Delivered(n int, latency []int64)
	// Replayed is called with the number of history events sent to a new or resumed stream.
	Replayed(n int)
	// Reset is called when a stream is sent an "event: reset".
	Reset(reason ResetReason)
}

// NopObserver ignores everything.
type NopObserver struct{}

func (NopObserver) ConnOpened()            {}
func (NopObserver) ConnClosed(ConnInfo)    {}
func (NopObserver) Delivered(int, []int64) {}
func (NopObserver) Replayed(int)           {}
func (NopObserver) Reset(ResetReason)      {}
