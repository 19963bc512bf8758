package testserver

import (
	"context"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// postgresBinGlob is where Debian installs the server programs (initdb and postgres are
// not on PATH there); the newest version found wins.
const postgresBinGlob = "/usr/lib/postgresql/*/bin"

// PostgresServer is a PostgreSQL server owned by one test: a fresh cluster made by initdb in
// a temporary directory, listening on a free loopback port (no Unix socket), trust
// authentication for the user "postgres", fsync off. It is stopped and removed by t.Cleanup.
//
// initdb and postgres refuse to run as root, and the tests (CI included) run as root: in
// that case both run with the uid and gid of the system user "postgres" that Debian's
// package creates, on a directory owned by it.
type PostgresServer struct {
	tb   testing.TB
	port int
	dir  string
	cmd  *exec.Cmd
	done chan struct{}
}

// Postgres starts a PostgreSQL server for tb and waits until it accepts connections. A
// missing installation fails the test (Debian package postgresql).
func Postgres(tb testing.TB) *PostgresServer {
	tb.Helper()
	bin := postgresBin(tb)
	cred := postgresCredential(tb)
	dir, err := os.MkdirTemp(postgresTempBase(cred), "herald-pg-")
	if err != nil {
		tb.Fatalf("testserver: postgres dir: %v", err)
	}
	tb.Cleanup(func() { os.RemoveAll(dir) })
	data := filepath.Join(dir, "data")
	if cred != nil {
		if err := os.Chown(dir, int(cred.Uid), int(cred.Gid)); err != nil {
			tb.Fatalf("testserver: chown postgres dir: %v", err)
		}
	}
	s := &PostgresServer{tb: tb, port: FreePort(tb), dir: dir, done: make(chan struct{})}
	initdb := exec.Command(filepath.Join(bin, "initdb"), "-D", data, "-U", "postgres",
		"--auth=trust", "-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions")
	initdb.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	initdb.Dir = dir
	if out, err := initdb.CombinedOutput(); err != nil {
		tb.Fatalf("testserver: initdb: %v\n%s", err, out)
	}
	logPath := filepath.Join(dir, "postgres.log")
	logf, err := os.Create(logPath)
	if err != nil {
		tb.Fatalf("testserver: postgres log: %v", err)
	}
	defer logf.Close()
	cmd := exec.Command(filepath.Join(bin, "postgres"), "-D", data,
		"-p", strconv.Itoa(s.port),
		"-c", "listen_addresses=127.0.0.1",
		"-c", "unix_socket_directories=",
		"-c", "fsync=off",
		"-c", "synchronous_commit=off",
		"-c", "full_page_writes=off",
		"-c", "max_connections=100",
		"-c", "shared_buffers=16MB",
	)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		tb.Fatalf("testserver: start postgres: %v", err)
	}
	s.cmd = cmd
	go func() { _ = cmd.Wait(); close(s.done) }()
	tb.Cleanup(s.stop)
	deadline := time.Now().Add(30 * time.Second)
	for {
		// The postmaster listens before it accepts sessions ("the database system is
		// starting up"), so ready means a query answered.
		if s.probe() == nil {
			return s
		}
		select {
		case <-s.done:
			log, _ := os.ReadFile(logPath)
			tb.Fatalf("testserver: postgres exited early:\n%s", log)
		case <-time.After(25 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(logPath)
			tb.Fatalf("testserver: postgres on %s not ready within 30s:\n%s", s.Addr(), log)
		}
	}
}

// Addr returns host:port of the server.
func (s *PostgresServer) Addr() string { return "127.0.0.1:" + strconv.Itoa(s.port) }

// DSN returns a postgres:// URL for database "postgres" as user "postgres", without TLS.
func (s *PostgresServer) DSN() string {
	return "postgres://postgres@" + s.Addr() + "/postgres?sslmode=disable"
}

// probe connects and runs SELECT 1.
func (s *PostgresServer) probe() error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, s.DSN())
	if err != nil {
		return err
	}
	defer c.Close(ctx)
	var one int
	return c.QueryRow(ctx, "SELECT 1").Scan(&one)
}

// stop shuts the server down at once (SIGQUIT: immediate shutdown, which ends every
// backend) and waits for it; SIGKILL if it has not exited after 10 seconds.
func (s *PostgresServer) stop() {
	_ = s.cmd.Process.Signal(syscall.SIGQUIT)
	select {
	case <-s.done:
	case <-time.After(10 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.done
	}
}

// postgresBin returns the newest Debian PostgreSQL bin directory holding initdb.
func postgresBin(tb testing.TB) string {
	tb.Helper()
	dirs, _ := filepath.Glob(postgresBinGlob)
	sort.Slice(dirs, func(i, j int) bool { return pgVersion(dirs[i]) > pgVersion(dirs[j]) })
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
			return d
		}
	}
	tb.Fatalf("testserver: PostgreSQL not found in %s; install it with `apt-get install -y postgresql` or run ./scripts/test, which does", postgresBinGlob)
	return ""
}

// pgVersion is the major version in a /usr/lib/postgresql/<v>/bin path, or 0.
func pgVersion(binDir string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return v
}

// postgresCredential returns the uid/gid of the system user "postgres" when the tests run
// as root (initdb refuses root), else nil: the server runs as the current user.
func postgresCredential(tb testing.TB) *syscall.Credential {
	tb.Helper()
	if os.Geteuid() != 0 {
		return nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		tb.Fatalf("testserver: running as root, PostgreSQL must run as the user \"postgres\" (created by Debian's postgresql package): %v", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
}

// postgresTempBase is where the server's directory goes: the usual temporary directory,
// unless the server runs as another user who could not enter it (a TMPDIR private to root);
// then /tmp.
func postgresTempBase(cred *syscall.Credential) string {
	base := os.TempDir()
	if cred == nil {
		return base
	}
	if fi, err := os.Stat(base); err == nil && fi.Mode().Perm()&0o001 != 0 {
		return base
	}
	return "/tmp"
}
