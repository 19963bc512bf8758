package testserver

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// PrometheusServer is a prometheus process owned by one test: a free loopback port, its own
// data directory and configuration. It is stopped by t.Cleanup.
type PrometheusServer struct {
	port int
	dir  string
	cmd  *exec.Cmd
	done chan error
}

// Prometheus starts prometheus (Debian package prometheus) with config as its
// prometheus.yml and waits until it reports ready. files (rule files, say) are copied next
// to the configuration, so config names them by their base name. A missing binary or a
// configuration it refuses fails the test.
func Prometheus(tb testing.TB, config string, files ...string) *PrometheusServer {
	tb.Helper()
	bin := RequireBinary(tb, "prometheus", "prometheus")
	s := &PrometheusServer{port: FreePort(tb), dir: tb.TempDir(), done: make(chan error, 1)}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			tb.Fatalf("testserver: prometheus file: %v", err)
		}
		if err := os.WriteFile(filepath.Join(s.dir, filepath.Base(f)), data, 0o644); err != nil {
			tb.Fatalf("testserver: prometheus file: %v", err)
		}
	}
	path := filepath.Join(s.dir, "prometheus.yml")
	if err := os.WriteFile(path, []byte(config), 0o644); err != nil {
		tb.Fatalf("testserver: write prometheus.yml: %v", err)
	}
	logf, err := os.Create(filepath.Join(s.dir, "prometheus.log"))
	if err != nil {
		tb.Fatalf("testserver: prometheus log: %v", err)
	}
	cmd := exec.Command(bin,
		"--config.file="+path,
		"--storage.tsdb.path="+filepath.Join(s.dir, "data"),
		"--web.listen-address="+s.Addr(),
		"--web.console.templates="+s.dir,
		"--web.console.libraries="+s.dir,
		"--log.level=warn",
	)
	cmd.Dir = s.dir
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		tb.Fatalf("testserver: start prometheus: %v", err)
	}
	s.cmd = cmd
	go func() { s.done <- cmd.Wait(); logf.Close() }()
	tb.Cleanup(s.stop)
	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := client.Get(s.URL() + "/-/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return s
			}
		}
		select {
		case err := <-s.done:
			s.done <- err
			tb.Fatalf("testserver: prometheus exited early: %v\n%s", err, s.Log())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			tb.Fatalf("testserver: prometheus on %s not ready within 20s\n%s", s.Addr(), s.Log())
		}
	}
}

// Addr returns host:port of the server.
func (s *PrometheusServer) Addr() string { return "127.0.0.1:" + strconv.Itoa(s.port) }

// URL returns the server's http:// base URL.
func (s *PrometheusServer) URL() string { return "http://" + s.Addr() }

// Log returns the server's log so far, for failure messages.
func (s *PrometheusServer) Log() string {
	b, _ := os.ReadFile(filepath.Join(s.dir, "prometheus.log"))
	return string(b)
}

// stop ends prometheus (SIGTERM) and waits for it, killing it after ten seconds.
func (s *PrometheusServer) stop() {
	_ = s.cmd.Process.Signal(os.Interrupt)
	select {
	case <-s.done:
	case <-time.After(10 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.done
	}
}

// String describes the server for logs.
func (s *PrometheusServer) String() string {
	return fmt.Sprintf("prometheus on %s (dir %s)", s.Addr(), s.dir)
}
