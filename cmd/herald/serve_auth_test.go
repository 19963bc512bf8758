package main

import (
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

func TestServeSecurityConfigLayers(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "herald.yaml")
	os.WriteFile(file, []byte(`
jwt_leeway: 5s
api_key: [key-one-0123456789, key-two-0123456789]
admin_token: admin-token-0123456789
max_conns_per_ip: 50
conn_rate_per_ip: 2.5
namespaces:
  raffle: {public: true}
  user: {personal: true, history_size: 10}
`), 0o600)
	t.Setenv("HERALD_JWT_KEY", "env-secret-0123456789abcdef")
	t.Setenv("HERALD_MAX_CONNS_PER_IP", "60")
	var cfg serveConfig
	fs := serveFlags(&cfg)
	fs.SetOutput(io.Discard)
	args := []string{"--config", file, "--conn-rate-per-ip", "4", "--api-key", "flag-key-0123456789", "--read-header-timeout", "3s"}
	if err := layeredFlags(fs, args, &cfg); err != nil {
		t.Fatal(err)
	}
	a, l := cfg.Auth, cfg.Limits
	checks := []struct {
		name      string
		got, want any
	}{
		{"jwt_key from env", a.JWTKey, "env-secret-0123456789abcdef"},
		{"jwt_leeway from file", a.JWTLeeway, 5 * time.Second},
		{"api_key: flag replaces file", strings.Join(a.APIKeys, ","), "flag-key-0123456789"},
		{"admin_token from file", a.AdminToken, "admin-token-0123456789"},
		{"auth_cookie default", a.Cookie, "herald_token"},
		{"max_conns_per_ip: env over file", l.MaxConnsPerIP, 60},
		{"conn_rate_per_ip: flag over file", l.ConnRatePerIP, 4.0},
		{"max_conns_per_user default", l.MaxConnsPerUser, 100},
		{"read_header_timeout flag", l.ReadHeaderTimeout, 3 * time.Second},
		{"public namespace", cfg.Namespaces["raffle"].Public, true},
		{"personal namespace", cfg.Namespaces["user"].Personal, true},
		{"namespace history kept", cfg.Namespaces["user"].HistorySize, 10},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s: got %v, want %v", c.name, c.got, c.want)
		}
	}
}

func TestServeSecurityConfigErrors(t *testing.T) {
	dir := t.TempDir()
	both := filepath.Join(dir, "both.yaml")
	os.WriteFile(both, []byte("namespaces: {user: {public: true, personal: true}}\n"), 0o600)
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"public and personal", []string{"--config", both}, "both public and personal"},
		{"short jwt key", []string{"--jwt-key", "short"}, "shorter than"},
		{"short admin token", []string{"--admin-token", "short"}, "admin-token"},
		{"protect-metrics alone", []string{"--protect-metrics"}, "protect-metrics"},
		{"missing public key", []string{"--jwt-public-key", filepath.Join(dir, "nope.pem")}, "public key"},
		{"bad jwks url", []string{"--jwks-url", "ftp://x"}, "JWKS"},
		{"negative rate", []string{"--conn-rate-per-ip", "-1"}, "conn-rate-per-ip"},
		{"negative ip conns", []string{"--max-conns-per-ip", "-1"}, "max-conns-per-ip"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := runServe(context.Background(), append(tc.args, "--addr", "127.0.0.1:0"), io.Discard, io.Discard)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one mentioning %q", err, tc.want)
			}
		})
	}
}

// startServe runs the serve command until the test ends and returns its base URL and logs.
func startServe(t *testing.T, args ...string) (string, *syncBuffer) {
	t.Helper()
	logs := &syncBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- runServe(ctx, append([]string{"--addr", "127.0.0.1:0", "--drain", "100ms"}, args...), io.Discard, logs)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Error("serve did not return")
		}
	})
	re := regexp.MustCompile(`msg="herald is serving" url=(http://[0-9.:]+)`)
	deadline := time.Now().Add(10 * time.Second)
	for {
		if m := re.FindStringSubmatch(logs.String()); m != nil {
			return m[1], logs
		}
		if time.Now().After(deadline) {
			t.Fatalf("no start-up line; logs:\n%s", logs)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestServeDevModeWarns(t *testing.T) {
	_, logs := startServe(t)
	out := logs.String()
	if !regexp.MustCompile(`level=WARN msg="DEVELOPMENT MODE:[^"]*only loopback clients may publish`).MatchString(out) {
		t.Fatalf("no loud development-mode warning; logs:\n%s", out)
	}
}

func TestServeWithCredentials(t *testing.T) {
	const admin = "admin-token-0123456789"
	base, logs := startServe(t, "--jwt-key", "secret-0123456789abcdef", "--admin-token", admin, "--protect-metrics")
	if strings.Contains(logs.String(), "DEVELOPMENT MODE") {
		t.Fatalf("development-mode warning with a JWT key:\n%s", logs)
	}
	cases := []struct {
		path   string
		header string
		want   int
	}{
		{"/v1/events?topic=user:1", "", http.StatusUnauthorized},
		{"/v1/events?topic=user:1&token=nonsense", "", http.StatusUnauthorized},
		{"/dashboard", "", http.StatusUnauthorized},
		{"/dashboard?token=" + admin, "", http.StatusOK},
		{"/metrics", "", http.StatusUnauthorized},
		{"/metrics", "Bearer " + admin, http.StatusOK},
		{"/healthz", "", http.StatusOK},
	}
	for _, c := range cases {
		req, _ := http.NewRequest(http.MethodGet, base+c.path, nil)
		if c.header != "" {
			req.Header.Set("Authorization", c.header)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != c.want {
			t.Errorf("GET %s (with header: %v): %d, want %d", c.path, c.header != "", resp.StatusCode, c.want)
		}
	}
	if strings.Contains(logs.String(), admin) {
		t.Errorf("the admin token reached the logs:\n%s", logs)
	}
}
