package testserver

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// NginxServer is an nginx process owned by one test: a free loopback port, its own prefix
// directory holding the configuration, pid file, temp paths and error log, `daemon off` and
// one worker. It is stopped by t.Cleanup.
type NginxServer struct {
	port int
	dir  string
	proc *Process
}

// Nginx starts nginx (Debian package nginx-light) with serverBody inside its one server
// block, after the server's `listen` line, and waits until the port accepts connections.
// serverBody typically holds a `location` with `proxy_pass`. A missing binary or an
// invalid configuration fails the test.
func Nginx(tb testing.TB, serverBody string) *NginxServer {
	tb.Helper()
	// Debian installs nginx in /usr/sbin, which is not on every user's PATH.
	bin := "/usr/sbin/nginx"
	if _, err := os.Stat(bin); err != nil {
		bin = RequireBinary(tb, "nginx", "nginx-light")
	}
	s := &NginxServer{port: FreePort(tb), dir: tb.TempDir()}
	conf := fmt.Sprintf(`# written by internal/testserver for one test
user root;          # CI runs tests as root; ignored (with a warning) otherwise
daemon off;
master_process on;
worker_processes 1;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log info;
events { worker_connections 256; }
http {
    access_log off;
    client_body_temp_path %[1]s/client_body;
    proxy_temp_path %[1]s/proxy;
    fastcgi_temp_path %[1]s/fastcgi;
    uwsgi_temp_path %[1]s/uwsgi;
    scgi_temp_path %[1]s/scgi;
    server {
        listen 127.0.0.1:%[2]d;
%[3]s
    }
}
`, s.dir, s.port, serverBody)
	path := filepath.Join(s.dir, "nginx.conf")
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		tb.Fatalf("testserver: write nginx.conf: %v", err)
	}
	// -e sets the error log before the configuration is read (nginx ≥ 1.19.5), so nothing
	// is written to /var/log/nginx.
	s.proc = StartProcess(tb, s.dir, nil, bin, "-p", s.dir, "-c", path, "-e", filepath.Join(s.dir, "error.log"))
	s.proc.WaitUntil(tb, "accepted connections on "+s.Addr(), 10*time.Second, func() bool {
		c, err := net.DialTimeout("tcp", s.Addr(), 200*time.Millisecond)
		if err != nil {
			return false
		}
		c.Close()
		return true
	}, s.ErrorLog)
	return s
}

// Addr returns host:port of the server.
func (s *NginxServer) Addr() string { return "127.0.0.1:" + strconv.Itoa(s.port) }

// URL returns the server's http:// base URL.
func (s *NginxServer) URL() string { return "http://" + s.Addr() }

// ErrorLog returns the contents of nginx's error log so far, for failure messages.
func (s *NginxServer) ErrorLog() string {
	b, _ := os.ReadFile(filepath.Join(s.dir, "error.log"))
	return string(b)
}
