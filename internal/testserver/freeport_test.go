package testserver

import (
	"net"
	"strconv"
	"testing"
)

// FreePort hands out distinct ports that can be bound, below the kernel's ephemeral range
// where it can read it, so client sockets cannot take them before a server binds.
func TestFreePort(t *testing.T) {
	lo, hi, ranged := belowEphemeral()
	seen := make(map[int]bool)
	for range 50 {
		p := FreePort(t)
		if seen[p] {
			t.Fatalf("port %d handed out twice", p)
		}
		seen[p] = true
		if ranged && (p < lo || p > hi) {
			t.Fatalf("port %d outside %d–%d, below the ephemeral range", p, lo, hi)
		}
		l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p))
		if err != nil {
			t.Fatalf("port %d cannot be bound: %v", p, err)
		}
		l.Close()
	}
}
