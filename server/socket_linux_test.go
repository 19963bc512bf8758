package server_test

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/heraldpush/herald/server"
)

// A client cut off for not reading is reset, not closed gracefully: nothing it was sent stays
// in the server's kernel (no FIN-WAIT-1 socket trickling megabytes to it), on the hijacked
// path and on the goroutine path alike.
func TestSlowConsumerIsReset(t *testing.T) {
	for _, mode := range []struct {
		name     string
		noHijack bool
	}{{"detached", false}, {"goroutine", true}} {
		t.Run(mode.name, func(t *testing.T) {
			ln := listen(t)
			port := ln.Addr().(*net.TCPAddr).Port
			n := serveReal(t, server.Config{MaxQueueBytes: 256 << 10, HistorySize: 10, NoHijack: mode.noHijack}, nil, ln)

			raw, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer raw.Close()
			raw.(*net.TCPConn).SetReadBuffer(4096)
			fmt.Fprintf(raw, "GET /v1/events?topic=firehose HTTP/1.1\r\nHost: x\r\n\r\n")
			waitUntil(t, func() bool { return n.srv.Hub().Conns() == 1 })

			payload := strings.Repeat("x", 16<<10)
			body := fmt.Sprintf(`{"topic":"firehose","data":%q}`, payload)
			for i := 0; n.srv.Hub().Conns() == 1; i++ {
				if i == 2000 {
					t.Fatal("32 MiB published and the client that never reads is still connected")
				}
				resp, err := http.Post(n.url+"/v1/publish", "application/json", strings.NewReader(body))
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
			}

			// The server's socket of the client is gone: not in FIN-WAIT-1 (a graceful close
			// with unsent data, which lasts as long as the client does not read).
			client := raw.LocalAddr().(*net.TCPAddr).Port
			deadline := time.Now().Add(waitFor)
			for st := serverSockets(t, port, client); len(st) > 0; st = serverSockets(t, port, client) {
				if time.Now().After(deadline) {
					t.Fatalf("the server's socket of the cut-off client is still there: %s", st)
				}
				time.Sleep(10 * time.Millisecond)
			}
			// The client sees the reset once it reads.
			raw.SetReadDeadline(time.Now().Add(waitFor))
			_, err = io.Copy(io.Discard, raw)
			if !errors.Is(err, syscall.ECONNRESET) {
				t.Fatalf("the cut-off client's read ended with %v, want a connection reset", err)
			}
		})
	}
}

// serverSockets lists the TCP states (and queues) of the IPv4 sockets from local port port to
// remote port remote.
func serverSockets(t *testing.T, port, remote int) []byte {
	t.Helper()
	f, err := os.Open("/proc/net/tcp")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	states := map[string]string{"01": "ESTABLISHED", "04": "FIN_WAIT1", "05": "FIN_WAIT2", "06": "TIME_WAIT",
		"07": "CLOSE", "08": "CLOSE_WAIT", "09": "LAST_ACK", "0A": "LISTEN", "0B": "CLOSING"}
	var out []byte
	sc := bufio.NewScanner(f)
	local, rem := fmt.Sprintf(":%04X", port), fmt.Sprintf(":%04X", remote)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 5 || !strings.HasSuffix(fields[1], local) || !strings.HasSuffix(fields[2], rem) {
			continue
		}
		out = fmt.Appendf(out, "%s tx/rx %s; ", states[fields[3]], fields[4])
	}
	return out
}
