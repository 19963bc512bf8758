//go:build unix

package server_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/heraldpush/herald/engine/memory"
	"github.com/heraldpush/herald/server"
)

// BenchmarkPublishSingle measures the cost of the commonest publish: each op is one
// POST /v1/publish of a single event to a topic with one subscriber, over one keep-alive
// loopback connection to a real server (Server.Serve, memory engine), which writes the
// event to the subscriber's socket inline. The publisher and the subscriber are raw
// sockets with fixed buffers, so allocs/op and B/op are the server's. cpu-µs/op is the
// process's user+system CPU per request (getrusage): the server's work, the kernel's for
// both sockets, and the small raw client's.
func BenchmarkPublishSingle(b *testing.B) {
	cfg := server.Config{}
	eng := memory.New(memory.Options{Retention: cfg.Retention})
	srv, err := server.New(cfg, eng, server.Options{EngineName: "memory"})
	if err != nil {
		b.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ctx, ln, nil) }()
	defer func() {
		cancel()
		<-served
		eng.Close()
	}()
	addr := ln.Addr().String()

	// The subscriber: one stream on bench:1, read and discarded.
	sub, err := net.Dial("tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	defer sub.Close()
	fmt.Fprintf(sub, "GET /v1/events?topic=bench:1 HTTP/1.1\r\nHost: %s\r\nAccept: text/event-stream\r\n\r\n", addr)
	subr := bufio.NewReader(sub)
	if line, err := subr.ReadString('\n'); err != nil || !bytes.Contains([]byte(line), []byte(" 200 ")) {
		b.Fatalf("subscribe: %q %v", line, err)
	}
	drained := make(chan struct{})
	go func() { defer close(drained); io.Copy(io.Discard, subr) }()
	defer func() { sub.Close(); <-drained }()

	pub, err := net.Dial("tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	defer pub.Close()
	body := `{"topic":"bench:1","event":"tick","data":{"seq":1,"price":123.45,"sym":"HRLD"}}`
	req := []byte(fmt.Sprintf("POST /v1/publish HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", addr, len(body), body))
	pr := bufio.NewReaderSize(pub, 4096)
	answer := make([]byte, 512)
	roundTrip := func() []byte {
		if _, err := pub.Write(req); err != nil {
			b.Fatal(err)
		}
		n := -1
		for {
			line, err := pr.ReadSlice('\n')
			if err != nil {
				b.Fatal(err)
			}
			if len(line) <= 2 {
				break
			}
			if bytes.HasPrefix(line, []byte("HTTP/1.1 ")) && !bytes.HasPrefix(line, []byte("HTTP/1.1 200 ")) {
				b.Fatalf("publish answer: %q", line)
			}
			if v, ok := bytes.CutPrefix(line, []byte("Content-Length: ")); ok {
				n, _ = strconv.Atoi(string(bytes.TrimSpace(v)))
			}
		}
		if n < 0 || n > len(answer) {
			b.Fatalf("publish answer: Content-Length %d", n)
		}
		if _, err := io.ReadFull(pr, answer[:n]); err != nil {
			b.Fatal(err)
		}
		return answer[:n]
	}
	// Warm up until the subscriber is online (the stream is registered after its headers).
	for deadline := time.Now().Add(waitFor); !bytes.Contains(roundTrip(), []byte(`"online":true`)); {
		if time.Now().After(deadline) {
			b.Fatalf("no subscriber online on bench:1 after %s", waitFor)
		}
		time.Sleep(time.Millisecond)
	}
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := processCPU()
	for b.Loop() {
		if a := roundTrip(); !bytes.Contains(a, []byte(`"online":true`)) {
			b.Fatalf("publish answer %q: the subscriber is not online", a)
		}
	}
	cpu := processCPU() - cpu0
	b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "cpu-µs/op")
}

// processCPU is this process's user+system CPU time so far.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
