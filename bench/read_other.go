//go:build !unix

package bench

import "net"

// reader reads a subscriber's socket into buffers from the pool (held while a read blocks).
type reader struct{ conn *net.TCPConn }

func newReader(conn *net.TCPConn) (*reader, error) { return &reader{conn: conn}, nil }

// read returns the next bytes in a pooled buffer (the caller puts it back).
func (r *reader) read() (*[]byte, int, error) {
	bp := bufPool.Get().(*[]byte)
	n, err := r.conn.Read(*bp)
	if err != nil {
		bufPool.Put(bp)
		return nil, 0, err
	}
	return bp, n, nil
}
