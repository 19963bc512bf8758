package testserver

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// RedisServer is a redis-server process owned by one test: a free loopback port, its own
// temporary directory, no persistence (--save "" --appendonly no). It is stopped by
// t.Cleanup. Stop/Start and Kill let fault tests take it away and bring it back on the same
// port.
type RedisServer struct {
	tb   testing.TB
	bin  string
	port int
	dir  string
	args []string

	mu  sync.Mutex
	cmd *exec.Cmd
}

// Redis starts a redis-server for tb and waits until it answers PING. A missing binary fails
// the test (Debian package redis-server).
func Redis(tb testing.TB, extraArgs ...string) *RedisServer {
	tb.Helper()
	s := &RedisServer{
		tb:   tb,
		bin:  RequireBinary(tb, "redis-server", "redis-server"),
		port: FreePort(tb),
		dir:  tb.TempDir(),
		args: extraArgs,
	}
	tb.Cleanup(s.Kill)
	s.Start()
	return s
}

// Addr returns host:port of the server.
func (s *RedisServer) Addr() string { return "127.0.0.1:" + strconv.Itoa(s.port) }

// URL returns a redis:// URL for database 0 of the server.
func (s *RedisServer) URL() string { return "redis://" + s.Addr() + "/0" }

// Port returns the server's TCP port.
func (s *RedisServer) Port() int { return s.port }

// Dir returns the server's working directory.
func (s *RedisServer) Dir() string { return s.dir }

// Start starts the server (again) on its port and waits until it answers PING. It fails the
// test when the server does not come up within 10 seconds.
func (s *RedisServer) Start() {
	s.tb.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		s.tb.Fatalf("testserver: redis-server on %s already running", s.Addr())
	}
	args := []string{
		"--port", strconv.Itoa(s.port),
		"--bind", "127.0.0.1",
		"--dir", s.dir,
		"--save", "",
		"--appendonly", "no",
		"--protected-mode", "no",
		"--logfile", filepath.Join(s.dir, "redis.log"),
	}
	args = append(args, s.args...)
	cmd := exec.Command(s.bin, args...)
	if err := cmd.Start(); err != nil {
		s.tb.Fatalf("testserver: start redis-server: %v", err)
	}
	s.cmd = cmd
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if err := redisPing(s.Addr()); err == nil {
			// Keep the Wait goroutine's result for Stop/Kill.
			go func() { <-done }()
			return
		}
		select {
		case err := <-done:
			s.cmd = nil
			log, _ := os.ReadFile(filepath.Join(s.dir, "redis.log"))
			s.tb.Fatalf("testserver: redis-server exited early: %v\n%s", err, log)
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			s.tb.Fatalf("testserver: redis-server on %s did not answer PING within 10s", s.Addr())
		}
	}
}

// Stop terminates the server gracefully (SIGTERM) and waits until its port is free.
func (s *RedisServer) Stop() { s.stop(os.Interrupt) }

// Kill terminates the server with SIGKILL, as a crash would, and waits until its port is free.
func (s *RedisServer) Kill() { s.stop(os.Kill) }

func (s *RedisServer) stop(sig os.Signal) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Signal(sig)
	s.cmd = nil
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		c, err := net.DialTimeout("tcp", s.Addr(), 100*time.Millisecond)
		if err != nil {
			return
		}
		c.Close()
		time.Sleep(20 * time.Millisecond)
	}
}

// redisPing sends an inline PING and expects +PONG.
func redisPing(addr string) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	buf := make([]byte, 64)
	n, err := c.Read(buf)
	if err != nil {
		return err
	}
	if !strings.HasPrefix(string(buf[:n]), "+PONG") {
		return fmt.Errorf("unexpected reply %q", buf[:n])
	}
	return nil
}

// RedisCluster is a Redis Cluster of masters (no replicas) on loopback, each a RedisServer.
type RedisCluster struct {
	Nodes []*RedisServer
}

// Addrs returns the nodes' host:port.
func (c *RedisCluster) Addrs() []string {
	a := make([]string, len(c.Nodes))
	for i, n := range c.Nodes {
		a[i] = n.Addr()
	}
	return a
}

// URL returns a go-redis cluster URL naming every node
// (redis://first?addr=second&addr=third, for redis.ParseClusterURL).
func (c *RedisCluster) URL() string {
	a := c.Addrs()
	u := "redis://" + a[0]
	for i, s := range a[1:] {
		if i == 0 {
			u += "?"
		} else {
			u += "&"
		}
		u += "addr=" + s
	}
	return u
}

// RedisClusterN starts n cluster-enabled redis-servers, joins them with
// `redis-cli --cluster create … --cluster-replicas 0` and waits until every node reports
// cluster_state:ok.
func RedisClusterN(tb testing.TB, n int) *RedisCluster {
	tb.Helper()
	cli := RequireBinary(tb, "redis-cli", "redis-tools")
	c := &RedisCluster{}
	for range n {
		dir := tb.TempDir()
		s := &RedisServer{
			tb:   tb,
			bin:  RequireBinary(tb, "redis-server", "redis-server"),
			port: freeClusterPort(tb),
			dir:  dir,
			args: []string{"--cluster-enabled", "yes", "--cluster-config-file", filepath.Join(dir, "nodes.conf"), "--cluster-node-timeout", "2000"},
		}
		tb.Cleanup(s.Kill)
		s.Start()
		c.Nodes = append(c.Nodes, s)
	}
	args := append([]string{"--cluster", "create"}, c.Addrs()...)
	args = append(args, "--cluster-replicas", "0", "--cluster-yes")
	if out, err := exec.Command(cli, args...).CombinedOutput(); err != nil {
		tb.Fatalf("testserver: redis-cli --cluster create: %v\n%s", err, out)
	}
	deadline := time.Now().Add(20 * time.Second)
	for _, s := range c.Nodes {
		for {
			out, _ := exec.Command(cli, "-p", strconv.Itoa(s.port), "cluster", "info").Output()
			if strings.Contains(string(out), "cluster_state:ok") {
				break
			}
			if time.Now().After(deadline) {
				tb.Fatalf("testserver: cluster node %s not ok:\n%s", s.Addr(), out)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	return c
}

// freeClusterPort returns a free port whose cluster bus port (port+10000) is free too.
func freeClusterPort(tb testing.TB) int {
	tb.Helper()
	for range 100 {
		p := FreePort(tb)
		if p+10000 > 65535 {
			continue
		}
		l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p+10000))
		if err != nil {
			continue
		}
		l.Close()
		return p
	}
	tb.Fatal("testserver: no free port pair for a cluster node")
	return 0
}

// StartControl serves the control endpoint a client library's own test suite uses to bring
// a stopped server back while its client retries: a POST to <URL>/redis/start starts s (once
// per endpoint); anything else is 404. It returns the endpoint's base URL and closes it when
// the test ends.
func (s *RedisServer) StartControl(tb testing.TB) string {
	var once sync.Once
	control := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/redis/start" {
			http.NotFound(w, r)
			return
		}
		once.Do(s.Start)
		w.WriteHeader(http.StatusOK)
	}))
	tb.Cleanup(control.Close)
	return control.URL
}
