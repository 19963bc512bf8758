//go:build !linux

package hub

import (
	"errors"
	"syscall"
)

// poller is not available off Linux: CanDetach reports false and every stream keeps the
// goroutine of its HTTP handler.
type poller struct{}

var errNoPool = errors.New("hub: the writer pool needs Linux (epoll)")

func newPoller(*Hub) (*poller, error) { return nil, errNoPool }

func (*poller) add(*Conn) error { return errNoPool }
func (*poller) remove(*Conn)    {}
func (*poller) run()            {}
func (*poller) wakeup()         {}
func (*poller) close()          {}

type rawWriter struct{}

func (*rawWriter) write(syscall.RawConn, []byte) (int, error) { return 0, errNoPool }
