//go:build linux

package hub

import (
	"net"
	"syscall"
	"testing"
)

// BenchmarkLoopbackWrite measures the floor under the writer pool's cost per delivery: one
// non-blocking write(2) of an event-sized frame (180 bytes) to a loopback TCP socket,
// round-robin over 2,000 connections whose peers are drained between rounds with the timer
// stopped (so no reader's wake-up is counted, and no receive queue grows long). On loopback
// the kernel runs the receiving side's TCP processing and its ACK in the writer's context,
// so this is what any server pays per delivered event when each write carries one event.
// BenchmarkGetppid is the bare cost of entering the kernel, for scale.
//
// On the 2-core development machine (2026-12-02): 8.2–9.9 µs per write, ~140 ns per
// getppid; the server's whole CPU per delivery in the 100k deliveries/s broadcast was
// 8.1–8.4 µs, ~1.3 µs of it in user space (docs/performance.md).
func BenchmarkLoopbackWrite(b *testing.B) {
	const n = 2000
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, n)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted <- c
		}
	}()
	fds := make([]int, 0, n)   // the server side: written
	peers := make([]int, 0, n) // the client side: drained
	for range n {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		crc, err := c.(*net.TCPConn).SyscallConn()
		if err != nil {
			b.Fatal(err)
		}
		_ = crc.Control(func(fd uintptr) { peers = append(peers, int(fd)) })
		s := <-accepted
		defer s.Close()
		rc, err := s.(*net.TCPConn).SyscallConn()
		if err != nil {
			b.Fatal(err)
		}
		_ = rc.Control(func(fd uintptr) { fds = append(fds, int(fd)) })
	}
	frame := make([]byte, 180)
	buf := make([]byte, 64<<10)
	i := 0
	for b.Loop() {
		if _, err := syscall.Write(fds[i%n], frame); err != nil {
			b.Fatalf("write %d: %v", i, err)
		}
		i++
		if i%n == 0 {
			b.StopTimer()
			for _, fd := range peers {
				for {
					if k, err := syscall.Read(fd, buf); err != nil || k < len(buf) {
						break
					}
				}
			}
			b.StartTimer()
		}
	}
}

// BenchmarkGetppid is the cost of the cheapest system call: entering and leaving the kernel.
func BenchmarkGetppid(b *testing.B) {
	for b.Loop() {
		syscall.Getppid()
	}
}
