// Package testserver starts real backing servers (redis-server, nats-server) for tests, on
// free loopback ports with their own temporary directories, and stops them when the test ends.
//
// A missing server binary is a test failure, never a skip: the README's test command installs
// the Debian packages, and CI must not pass by silently testing less.
package testserver

import (
	"net"
	"os/exec"
	"testing"
)

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort(tb testing.TB) int {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("testserver: find a free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
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
