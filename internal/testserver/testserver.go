// Package testserver starts real backing servers (redis-server, nats-server, PostgreSQL) for tests, on
// free loopback ports with their own temporary directories, and stops them when the test ends.
//
// A missing server binary is a test failure, never a skip: the README's test command installs
// the Debian packages, and CI must not pass by silently testing less.
package testserver

import (
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// handedOut holds every port FreePort returned in this process. The kernel may hand the
// same port to two listen(":0") calls in a row once the first listener is closed, and a
// three-server NATS cluster asks for nine ports before any server binds them; so ports are
// given out once per process. (Ports are a machine-wide resource: this set is the one piece
// of process-wide state in the package.)
var handedOut struct {
	sync.Mutex
	ports map[int]bool
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago and that no earlier
// call in this process returned.
//
// The port is taken from just below the kernel's ephemeral range
// (/proc/sys/net/ipv4/ip_local_port_range), where outgoing connections never get their
// local port: a port from inside that range (what listen(":0") gives) can be taken by any
// client socket on the machine — the many loopback connections of the tests running in
// parallel — between the moment it is found free and the moment the server binds it (seen
// as redis-server's "bind: Address already in use"). Off Linux, or when the range leaves no
// room below it, it falls back to listen(":0").
func FreePort(tb testing.TB) int {
	tb.Helper()
	handedOut.Lock()
	defer handedOut.Unlock()
	if handedOut.ports == nil {
		handedOut.ports = make(map[int]bool)
	}
	if lo, hi, ok := belowEphemeral(); ok {
		for range 200 {
			port := lo + rand.IntN(hi-lo+1)
			if handedOut.ports[port] {
				continue
			}
			l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
			if err != nil {
				continue // in use
			}
			l.Close()
			handedOut.ports[port] = true
			return port
		}
	}
	for range 100 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			tb.Fatalf("testserver: find a free port: %v", err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		l.Close()
		if !handedOut.ports[port] {
			handedOut.ports[port] = true
			return port
		}
	}
	tb.Fatal("testserver: no fresh free port after 100 tries")
	return 0
}

// belowEphemeral returns a range of ports just below the kernel's ephemeral range (at most
// 12,000 ports, none below 10,000), or ok false when it cannot be read or leaves no room.
func belowEphemeral() (lo, hi int, ok bool) {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 0, 0, false
	}
	f := strings.Fields(string(b))
	if len(f) != 2 {
		return 0, 0, false
	}
	low, err := strconv.Atoi(f[0])
	if err != nil {
		return 0, 0, false
	}
	hi = low - 1
	lo = max(10000, hi-12000)
	if hi-lo < 1000 {
		return 0, 0, false
	}
	return lo, hi, true
}

// RequireBinary returns the path of the named program, failing the test (not skipping it)
// when it is not installed. pkg is the Debian package that provides it.
func RequireBinary(tb testing.TB, name, pkg string) string {
	tb.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		tb.Fatalf("testserver: %s not found (%v); install it with `apt-get install -y %s` or run ./scripts/test, which does", name, err, pkg)
	}
	return p
}

// interrupt asks a server process to stop (SIGINT), waits for done (closed when it exited),
// and kills it if it has not exited after grace.
func interrupt(p *os.Process, done <-chan struct{}, grace time.Duration) {
	_ = p.Signal(os.Interrupt)
	select {
	case <-done:
	case <-time.After(grace):
		_ = p.Kill()
		<-done
	}
}
