//go:build !linux

package bench

import (
	"context"
	"errors"
	"net"
)

// epollReader is Linux only; elsewhere every stream is read by its own goroutine.
type epollReader struct{}

func newEpollReader() (*epollReader, error) { return nil, nil }

func (*epollReader) stop() {}

func (*epollReader) serve(context.Context, *sub, *net.TCPConn) error {
	return errors.New("bench: no epoll reader here")
}
