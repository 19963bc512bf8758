package testserver

import (
	"fmt"
	"net/http"
	"os"
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
	proc *Process
}

// Prometheus starts prometheus (Debian package prometheus) with config as its
// prometheus.yml and waits until it reports ready. files (rule files, say) are copied next
// to the configuration, so config names them by their base name. A missing binary or a
// configuration it refuses fails the test.
func Prometheus(tb testing.TB, config string, files ...string) *PrometheusServer {
	tb.Helper()
	bin := RequireBinary(tb, "prometheus", "prometheus")
	s := &PrometheusServer{port: FreePort(tb), dir: tb.TempDir()}
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
	s.proc = StartProcess(tb, s.dir, nil, bin,
		"--config.file="+path,
		"--storage.tsdb.path="+filepath.Join(s.dir, "data"),
		"--web.listen-address="+s.Addr(),
		"--web.console.templates="+s.dir,
		"--web.console.libraries="+s.dir,
		"--log.level=warn",
	)
	client := &http.Client{Timeout: time.Second}
	s.proc.WaitUntil(tb, "reported ready on "+s.Addr(), 20*time.Second, func() bool {
		resp, err := client.Get(s.URL() + "/-/ready")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}, nil)
	return s
}

// Addr returns host:port of the server.
func (s *PrometheusServer) Addr() string { return "127.0.0.1:" + strconv.Itoa(s.port) }

// URL returns the server's http:// base URL.
func (s *PrometheusServer) URL() string { return "http://" + s.Addr() }

// Log returns the server's log so far, for failure messages.
func (s *PrometheusServer) Log() string { return s.proc.Output() }

// String describes the server for logs.
func (s *PrometheusServer) String() string {
	return fmt.Sprintf("prometheus on %s (dir %s)", s.Addr(), s.dir)
}
