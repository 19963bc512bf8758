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

// feeder is a stream being read.
type feeder interface {
	feed(b []byte) error
}

// handed is a stream the reader owns.
type handed struct{}

func (*epollReader) serve(context.Context, feeder, *net.TCPConn) error {
	return errors.New("bench: no epoll reader here")
}

func (*epollReader) attach(feeder, *net.TCPConn) (*handed, error) {
	return nil, errors.New("bench: no epoll reader here")
}

func (*epollReader) wait(context.Context, *handed) error {
	return errors.New("bench: no epoll reader here")
}
