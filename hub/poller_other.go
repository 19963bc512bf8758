//go:build !linux

package hub

// The poller is not available off Linux: CanDetach reports false and every stream keeps the
// goroutine of its HTTP handler.

import "errors"

// poller stands in for the Linux poller; newPoller always fails.
type poller struct{}

var errNoPool = errors.New("hub: the writer pool needs Linux (epoll)")

func newPoller(*Hub) (*poller, error) { return nil, errNoPool }

func (*poller) add(*Conn) error { return errNoPool }
func (*poller) remove(*Conn)    {}
func (*poller) run()            {}
func (*poller) wakeup()         {}
func (*poller) close()          {}
