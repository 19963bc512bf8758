//go:build !unix

package bench

import "net"

// readPooled reads into a buffer from the pool (held while the read blocks).
func readPooled(conn *net.TCPConn) (*[]byte, int, error) {
	bp := bufPool.Get().(*[]byte)
	n, err := conn.Read(*bp)
	if err != nil {
		bufPool.Put(bp)
		return nil, 0, err
	}
	return bp, n, nil
}
