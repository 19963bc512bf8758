package testserver

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// natsStartTimeout bounds how long a nats-server may take to accept clients and report
// JetStream healthy (a cluster needs a few seconds to elect its meta leader).
const natsStartTimeout = 30 * time.Second

// NATSServer is a nats-server process with JetStream enabled (`nats-server -js`), listening on
// 127.0.0.1 with its own store directory. It can be stopped and started again on the same
// port and store directory, to test broker restarts.
type NATSServer struct {
	tb      testing.TB
	bin     string
	name    string
	port    int
	monPort int
	dir     string
	// cluster settings; empty for a standalone server.
	clusterName string
	clusterPort int
	routes      []string

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{} // closed when cmd has exited
	log    *os.File
}

// NATS starts a standalone nats-server with JetStream on a free port and stops it when the
// test ends. It fails the test when nats-server is not installed (Debian package
// nats-server, version 2.9 or later).
func NATS(tb testing.TB) *NATSServer {
	tb.Helper()
	s := newNATS(tb, "n0")
	s.Start()
	return s
}

// NATSCluster starts n nats-servers with JetStream, joined in one cluster by routes on
// loopback ports, and waits until JetStream is healthy on each. They stop when the test ends.
func NATSCluster(tb testing.TB, n int) []*NATSServer {
	tb.Helper()
	servers := make([]*NATSServer, n)
	routes := make([]string, n)
	for i := range servers {
		servers[i] = newNATS(tb, "n"+strconv.Itoa(i))
		servers[i].clusterName = "herald-test"
		servers[i].clusterPort = FreePort(tb)
		routes[i] = fmt.Sprintf("nats://127.0.0.1:%d", servers[i].clusterPort)
	}
	for _, s := range servers {
		s.routes = routes
	}
	// Start all before waiting: JetStream in a cluster is healthy only once a meta leader is
	// elected, which needs a quorum of the servers.
	for _, s := range servers {
		s.spawn()
	}
	for _, s := range servers {
		s.waitReady()
	}
	return servers
}

func newNATS(tb testing.TB, name string) *NATSServer {
	tb.Helper()
	s := &NATSServer{
		tb:      tb,
		bin:     RequireBinary(tb, "nats-server", "nats-server"),
		name:    name,
		port:    FreePort(tb),
		monPort: FreePort(tb),
		dir:     tb.TempDir(),
	}
	tb.Cleanup(s.Stop)
	return s
}

// URL returns the client URL, e.g. nats://127.0.0.1:34567.
func (s *NATSServer) URL() string { return fmt.Sprintf("nats://127.0.0.1:%d", s.port) }

// MonitorURL returns the base URL of the server's HTTP monitoring endpoint
// (/varz, /connz, /subsz, /jsz, /healthz).
func (s *NATSServer) MonitorURL() string { return fmt.Sprintf("http://127.0.0.1:%d", s.monPort) }

// Start starts the server (again) on its port and store directory and waits until it
// accepts clients and JetStream is healthy.
func (s *NATSServer) Start() {
	s.tb.Helper()
	s.spawn()
	s.waitReady()
}

func (s *NATSServer) spawn() {
	s.tb.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		s.tb.Fatalf("testserver: nats-server %s already running", s.name)
	}
	args := []string{
		"-js", "-a", "127.0.0.1", "-p", strconv.Itoa(s.port),
		"-m", strconv.Itoa(s.monPort), "-sd", filepath.Join(s.dir, "store"),
		"-n", s.name,
	}
	if s.clusterName != "" {
		args = append(args, "--cluster_name", s.clusterName,
			"--cluster", fmt.Sprintf("nats://127.0.0.1:%d", s.clusterPort),
			"--routes", strings.Join(s.routes, ","))
	}
	logf, err := os.OpenFile(filepath.Join(s.dir, "nats-server.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		s.tb.Fatalf("testserver: nats-server log: %v", err)
	}
	cmd := exec.Command(s.bin, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		s.tb.Fatalf("testserver: start nats-server: %v", err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	s.cmd, s.exited, s.log = cmd, exited, logf
}

// waitReady waits until the server accepts TCP connections and /healthz reports JetStream
// ready, failing the test (with the server's log) at once if the server exits, or after
// natsStartTimeout.
func (s *NATSServer) waitReady() {
	s.tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), natsStartTimeout)
	defer cancel()
	s.mu.Lock()
	exited := s.exited
	s.mu.Unlock()
	client := &http.Client{Timeout: time.Second}
	for {
		if s.healthy(ctx, client) {
			return
		}
		select {
		case <-exited:
			logText, _ := os.ReadFile(filepath.Join(s.dir, "nats-server.log"))
			s.tb.Fatalf("testserver: nats-server %s on port %d exited while starting; log:\n%s", s.name, s.port, logText)
		case <-ctx.Done():
			logText, _ := os.ReadFile(filepath.Join(s.dir, "nats-server.log"))
			s.tb.Fatalf("testserver: nats-server %s on port %d not ready after %v; log:\n%s", s.name, s.port, natsStartTimeout, logText)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func (s *NATSServer) healthy(ctx context.Context, client *http.Client) bool {
	c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", s.port), 200*time.Millisecond)
	if err != nil {
		return false
	}
	c.Close()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.MonitorURL()+"/healthz", nil)
	if err != nil {
		return false
	}
	resp, err := client.Do(req)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// Stop stops the server (SIGTERM, then SIGKILL after 5 s) and waits for it to exit. The
// store directory is kept, so Start resumes with the same JetStream data. Stopping a stopped
// server does nothing.
func (s *NATSServer) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return
	}
	interrupt(s.cmd.Process, s.exited, 5*time.Second)
	s.log.Close()
	s.cmd, s.exited, s.log = nil, nil, nil
}
