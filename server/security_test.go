package server_test

import (
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/heraldpush/herald"
	"github.com/heraldpush/herald/server"
)

// securedConfig has a JWT key, a publisher API key, a public and a personal namespace.
func securedConfig() server.Config {
	return server.Config{
		Auth: server.AuthConfig{JWTKey: testSecret, APIKeys: []string{testAPIKey}},
		Namespaces: map[string]server.Namespace{
			"raffle": {Public: true},
			"user":   {NamespacePresence: server.NamespacePresence{Personal: true}},
		},
	}
}

// The whole subscribe matrix: anonymous / valid / expired / wrong-key / alg:none tokens ×
// allowed / forbidden / other-user / public topics × header / cookie / query.
func TestSubscribeAuthMatrix(t *testing.T) {
	g := newGateway(t, securedConfig())
	subscribe := []string{"scan:*", "user:{sub}", "orders:{sub}"}
	tokens := []struct {
		name string
		tok  string
		// the answer for a topic the claims allow, and the error code of any 401
		ok   bool
		code string
	}{
		{"anonymous", "", false, "token_required"},
		{"valid", mint(t, testSecret, "42", time.Hour, subscribe, nil), true, ""},
		{"expired", mint(t, testSecret, "42", -time.Hour, subscribe, nil), false, "token_expired"},
		{"wrong-key", mint(t, "another-secret-0123456789", "42", time.Hour, subscribe, nil), false, "token_invalid"},
		{"alg-none", algNone("42"), false, "token_invalid"},
	}
	topics := []struct {
		name, topic string
		allowed     bool // for the valid token
	}{
		{"allowed", "scan:7", true},
		{"own-personal", "user:42", true},
		{"forbidden", "admin:x", false},
		{"other-user", "orders:43", false},
		{"other-user-personal", "user:43", false},
		{"public", "raffle:1", true},
	}
	for _, source := range []string{"header", "cookie", "query"} {
		for _, tk := range tokens {
			for _, tp := range topics {
				name := fmt.Sprintf("%s/%s/%s", source, tk.name, tp.name)
				t.Run(name, func(t *testing.T) {
					var want int
					var code string
					switch {
					case tk.name == "anonymous" && tp.topic == "raffle:1":
						want = http.StatusOK // public: anonymous welcome
					case !tk.ok:
						want, code = http.StatusUnauthorized, tk.code // even for a public topic
					case tp.allowed:
						want = http.StatusOK
					default:
						want, code = http.StatusForbidden, "forbidden"
					}
					u, h := withToken(g.url+"/v1/events?topic="+tp.topic, tk.tok, source)
					if want != http.StatusOK {
						a := do(t, nil, http.MethodGet, u, h, "")
						if a.status != want || a.code() != code {
							t.Fatalf("status %d code %q, want %d %q (%v)", a.status, a.code(), want, code, a.body)
						}
						if want == http.StatusUnauthorized && !strings.HasPrefix(a.header.Get("WWW-Authenticate"), `Bearer realm="herald"`) {
							t.Errorf("401 without WWW-Authenticate: %v", a.header)
						}
						return
					}
					s := openWith(t, http.DefaultClient, u, h)
					if s.Resp.StatusCode != http.StatusOK {
						t.Fatalf("status %d, want 200", s.Resp.StatusCode)
					}
					waitUntil(t, func() bool { return g.srv.Hub().HasSubscribers(herald.Topic(tp.topic)) })
					if a := publishAs(t, nil, g.url, "Bearer "+testAPIKey, tp.topic, name); a.status != http.StatusOK {
						t.Fatalf("publish: %d %v", a.status, a.body)
					}
					s.Expect(t, name)
				})
			}
		}
	}
}

// The publish matrix: credentials only count in the Authorization header; cookie and query
// tokens are ignored (CSRF, logs).
func TestPublishAuthMatrix(t *testing.T) {
	g := newGateway(t, securedConfig())
	publish := []string{"scan:*", "user:{sub}"}
	tokens := []struct {
		name   string
		tok    string
		status int // for an allowed topic, from the header
		code   string
		any    bool // may publish to any topic (API key)
	}{
		{"anonymous", "", http.StatusUnauthorized, "token_required", false},
		{"valid", mint(t, testSecret, "42", time.Hour, nil, publish), http.StatusOK, "", false},
		{"expired", mint(t, testSecret, "42", -time.Hour, nil, publish), http.StatusUnauthorized, "token_expired", false},
		{"wrong-key", mint(t, "another-secret-0123456789", "42", time.Hour, nil, publish), http.StatusUnauthorized, "token_invalid", false},
		{"alg-none", algNone("42"), http.StatusUnauthorized, "token_invalid", false},
		{"api-key", testAPIKey, http.StatusOK, "", true},
		{"unknown-api-key", "not-a-configured-key-0123", http.StatusUnauthorized, "token_invalid", false},
	}
	topics := []struct {
		name, topic string
		allowed     bool
	}{
		{"allowed", "scan:1", true},
		{"own", "user:42", true},
		{"forbidden", "orders:1", false},
		{"other-user", "user:43", false},
	}
	for _, source := range []string{"header", "cookie", "query"} {
		for _, tk := range tokens {
			for _, tp := range topics {
				t.Run(fmt.Sprintf("%s/%s/%s", source, tk.name, tp.name), func(t *testing.T) {
					want, code := tk.status, tk.code
					switch {
					case source != "header" || tk.tok == "":
						want, code = http.StatusUnauthorized, "token_required"
					case want == http.StatusOK && !tp.allowed && !tk.any:
						want, code = http.StatusForbidden, "forbidden"
					}
					u, h := withToken(g.url+"/v1/publish", tk.tok, source)
					h.Set("Content-Type", "application/json")
					a := do(t, nil, http.MethodPost, u, h, fmt.Sprintf(`{"topic":%q,"data":"x"}`, tp.topic))
					if a.status != want || a.code() != code {
						t.Fatalf("status %d code %q, want %d %q (%v)", a.status, a.code(), want, code, a.body)
					}
					if want == http.StatusOK && a.body["id"] == "" {
						t.Fatalf("no id: %v", a.body)
					}
					if want == http.StatusUnauthorized && a.header.Get("WWW-Authenticate") == "" {
						t.Error("401 without WWW-Authenticate")
					}
				})
			}
		}
	}
	// A batch is refused as a whole when one event's topic is not allowed.
	tok := mint(t, testSecret, "42", time.Hour, nil, publish)
	h := http.Header{"Authorization": {"Bearer " + tok}}
	a := do(t, nil, http.MethodPost, g.url+"/v1/publish", h, `{"events":[{"topic":"scan:1"},{"topic":"orders:1"}]}`)
	if a.status != http.StatusForbidden || !strings.Contains(fmt.Sprint(a.body["error"]), "events[1]") {
		t.Fatalf("batch with a forbidden event: %d %v", a.status, a.body)
	}
}

// A personal namespace pins a token to <ns>:<sub> whatever its claims say; a public one
// needs no token.
func TestPersonalAndPublicNamespaces(t *testing.T) {
	g := newGateway(t, securedConfig())
	cases := []struct {
		name      string
		subscribe []string
		topic     string
		want      int
	}{
		{"own topic via {sub}", []string{"user:{sub}"}, "user:42", http.StatusOK},
		{"wildcard claims, other user", []string{"user:*"}, "user:43", http.StatusForbidden},
		{"wildcard claims, own sub-topic", []string{"user:*"}, "user:42:orders", http.StatusForbidden},
		{"star claims, other user", []string{"*"}, "user:43", http.StatusForbidden},
		{"claims without user", []string{"scan:*"}, "user:42", http.StatusForbidden},
		{"public with a token", []string{"scan:*"}, "raffle:9", http.StatusOK},
		{"no token, public", nil, "raffle:9", http.StatusOK},
		{"no token, personal", nil, "user:42", http.StatusUnauthorized},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			u := g.url + "/v1/events?topic=" + c.topic
			h := http.Header{}
			if c.subscribe != nil {
				h.Set("Authorization", "Bearer "+mint(t, testSecret, "42", time.Hour, c.subscribe, nil))
			}
			if c.want == http.StatusOK {
				s := openWith(t, http.DefaultClient, u, h)
				if s.Resp.StatusCode != http.StatusOK {
					t.Fatalf("status %d", s.Resp.StatusCode)
				}
				waitUntil(t, func() bool { return g.srv.Hub().HasSubscribers(herald.Topic(c.topic)) })
				publishAs(t, nil, g.url, "Bearer "+testAPIKey, c.topic, c.name)
				s.Expect(t, c.name)
				return
			}
			if a := do(t, nil, http.MethodGet, u, h, ""); a.status != c.want {
				t.Fatalf("status %d, want %d (%v)", a.status, c.want, a.body)
			}
		})
	}
}

// Development mode (no credentials): anyone subscribes, only loopback publishes. With an API
// key but no JWT key, publishing needs the key from anywhere.
func TestDevModeLoopbackPublishing(t *testing.T) {
	cases := []struct {
		name     string
		cfg      server.AuthConfig
		remote   bool // the client looks like 203.0.113.7
		authz    string
		wantPub  int
		wantCode string
	}{
		{"dev, loopback", server.AuthConfig{}, false, "", http.StatusOK, ""},
		{"dev, remote", server.AuthConfig{}, true, "", http.StatusForbidden, "forbidden"},
		{"dev, remote, a token", server.AuthConfig{}, true, "Bearer x.y.z", http.StatusUnauthorized, "token_invalid"},
		{"api key, loopback anonymous", server.AuthConfig{APIKeys: []string{testAPIKey}}, false, "", http.StatusUnauthorized, "token_required"},
		{"api key, remote anonymous", server.AuthConfig{APIKeys: []string{testAPIKey}}, true, "", http.StatusUnauthorized, "token_required"},
		{"api key, remote with key", server.AuthConfig{APIKeys: []string{testAPIKey}}, true, "Bearer " + testAPIKey, http.StatusOK, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ln := listen(t)
			if c.remote {
				ln = remoteListener{ln}
			}
			n := serveReal(t, server.Config{Auth: c.cfg}, nil, ln)
			// Subscribing needs no token without a JWT key, from anywhere.
			s := openWith(t, http.DefaultClient, n.url+"/v1/events?topic=dev:1", nil)
			if s.Resp.StatusCode != http.StatusOK {
				t.Fatalf("subscribe: %d", s.Resp.StatusCode)
			}
			waitUntil(t, func() bool { return n.srv.Hub().Conns() == 1 })
			a := publishAs(t, nil, n.url, c.authz, "dev:1", "hello")
			if a.status != c.wantPub || a.code() != c.wantCode {
				t.Fatalf("publish: %d %q, want %d %q (%v)", a.status, a.code(), c.wantPub, c.wantCode, a.body)
			}
			if a.status == http.StatusOK {
				s.Expect(t, "hello")
			} else {
				s.ExpectQuiet(t, 100*time.Millisecond)
			}
		})
	}
}

// Herald's own topics (herald:stats) and the dashboard need the admin token or claims once
// any credential is configured.
func TestReservedTopicsAndAdminToken(t *testing.T) {
	withAdmin := func(a server.AuthConfig) server.AuthConfig { a.AdminToken = testAdmin; return a }
	jwtCfg := server.AuthConfig{JWTKey: testSecret}
	statsTok := mint(t, testSecret, "ops", time.Hour, []string{"herald:*"}, nil)
	userTok := mint(t, testSecret, "42", time.Hour, []string{"scan:*"}, nil)
	cases := []struct {
		name  string
		cfg   server.AuthConfig
		topic string
		tok   string
		want  int
	}{
		{"dev mode, anonymous", server.AuthConfig{}, "herald:stats", "", http.StatusOK},
		{"api key only, anonymous", server.AuthConfig{APIKeys: []string{testAPIKey}}, "herald:stats", "", http.StatusUnauthorized},
		{"api key only, other topics stay open", server.AuthConfig{APIKeys: []string{testAPIKey}}, "scan:1", "", http.StatusOK},
		{"admin only, anonymous", withAdmin(server.AuthConfig{}), "herald:stats", "", http.StatusUnauthorized},
		{"admin only, admin token", withAdmin(server.AuthConfig{}), "herald:stats", testAdmin, http.StatusOK},
		{"admin only, admin token on other topic (dev)", withAdmin(server.AuthConfig{}), "scan:1", testAdmin, http.StatusOK},
		{"jwt, anonymous", withAdmin(jwtCfg), "herald:stats", "", http.StatusUnauthorized},
		{"jwt, claims allow", jwtCfg, "herald:stats", statsTok, http.StatusOK},
		{"jwt, claims do not allow", jwtCfg, "herald:stats", userTok, http.StatusForbidden},
		{"jwt, admin token", withAdmin(jwtCfg), "herald:stats", testAdmin, http.StatusOK},
		{"jwt, admin token on a user topic", withAdmin(jwtCfg), "scan:1", testAdmin, http.StatusForbidden},
		{"jwt without admin, admin-like token", jwtCfg, "herald:stats", testAdmin, http.StatusUnauthorized},
	}
	for _, c := range cases {
		for _, source := range []string{"header", "query"} {
			t.Run(c.name+"/"+source, func(t *testing.T) {
				g := newGateway(t, server.Config{Auth: c.cfg})
				u, h := withToken(g.url+"/v1/events?topic="+c.topic, c.tok, source)
				if c.want != http.StatusOK {
					if a := do(t, nil, http.MethodGet, u, h, ""); a.status != c.want {
						t.Fatalf("status %d, want %d (%v)", a.status, c.want, a.body)
					}
					return
				}
				s := openWith(t, http.DefaultClient, u, h)
				if s.Resp.StatusCode != http.StatusOK {
					t.Fatalf("status %d, want 200", s.Resp.StatusCode)
				}
			})
		}
	}

	// The dashboard page needs the admin token once one is set.
	g := newGateway(t, server.Config{Auth: withAdmin(jwtCfg)})
	g.srv.Handle("/dashboard", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusOK) }))
	for _, c := range []struct {
		path string
		want int
	}{
		{"/dashboard", http.StatusUnauthorized},
		{"/dashboard?token=wrong-token-0123456789", http.StatusUnauthorized},
		{"/dashboard?token=" + testAdmin, http.StatusOK},
		{"/dashboard/?token=nope", http.StatusUnauthorized},
	} {
		if a := do(t, nil, http.MethodGet, g.url+c.path, nil, ""); a.status != c.want {
			t.Errorf("GET %s: %d, want %d", c.path, a.status, c.want)
		}
	}
}

// Tokens in URLs never reach the server's logs, at any level, whatever the outcome.
func TestTokensNeverLogged(t *testing.T) {
	logs := &logBuffer{}
	logger := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	cfg := securedConfig()
	cfg.Limits = server.Limits{MaxConnsPerUser: 1}
	n := serveReal(t, cfg, logger, listen(t))
	valid := mint(t, testSecret, "42", time.Hour, []string{"scan:*"}, []string{"scan:*"})
	secrets := []string{
		valid,
		mint(t, testSecret, "42", -time.Hour, []string{"scan:*"}, nil),
		mint(t, "another-secret-0123456789", "42", time.Hour, []string{"scan:*"}, nil),
		algNone("42"),
		"plain-garbage-credential",
	}
	for _, tok := range secrets {
		for _, topic := range []string{"scan:1", "orders:1"} {
			u, h := withToken(n.url+"/v1/events?topic="+topic, tok, "query")
			do(t, nil, http.MethodGet, u, h, "")
			u, h = withToken(n.url+"/v1/events?topic="+topic, tok, "cookie")
			do(t, nil, http.MethodGet, u, h, "")
			do(t, nil, http.MethodPost, n.url+"/v1/publish?token="+tok, nil, `{"topic":"scan:1"}`)
		}
	}
	// The loop's streams end asynchronously once their clients close (a detached stream's
	// close is seen by the hub's poller, not by the handler): let them release their slots.
	waitUntil(t, func() bool { return n.srv.Hub().Conns() == 0 })
	// A stream that is held, one refused by the per-user limit, and the held one ending.
	s := openWith(t, http.DefaultClient, n.url+"/v1/events?topic=scan:1&token="+valid, nil)
	if s.Resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", s.Resp.StatusCode)
	}
	if a := do(t, nil, http.MethodGet, n.url+"/v1/events?topic=scan:1&token="+valid, nil, ""); a.status != http.StatusTooManyRequests {
		t.Fatalf("second stream of one user: %d, want 429", a.status)
	}
	s.Close()
	waitUntil(t, func() bool { return n.srv.Hub().Conns() == 0 })
	out := logs.String()
	if !strings.Contains(out, "request denied") {
		t.Fatalf("no denial was logged at debug level; the test proves nothing:\n%s", out)
	}
	for _, tok := range secrets {
		for _, part := range strings.Split(tok, ".") {
			if len(part) >= 8 && strings.Contains(out, part) {
				t.Fatalf("a token part %q reached the logs:\n%s", part, out)
			}
		}
	}
	if strings.Contains(out, "token=ey") || strings.Contains(out, "token=plain") {
		t.Fatalf("token= with a value in the logs:\n%s", out)
	}
}

// CORS: an allowlisted origin gets credentials; "*" never comes with credentials.
func TestCORSNeverWildcardWithCredentials(t *testing.T) {
	cases := []struct {
		name       string
		origins    []string
		origin     string
		wantOrigin string
		wantCreds  bool
	}{
		{"listed origin", []string{"https://app.example"}, "https://app.example", "https://app.example", true},
		{"unlisted origin", []string{"https://app.example"}, "https://evil.example", "", false},
		{"star, unlisted origin", []string{"https://app.example", "*"}, "https://evil.example", "*", false},
		{"star, listed origin", []string{"https://app.example", "*"}, "https://app.example", "https://app.example", true},
		{"star only", []string{"*"}, "https://evil.example", "*", false},
		{"no origin header", []string{"*"}, "", "", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			g := newGateway(t, server.Config{CORSOrigins: c.origins})
			for _, preflight := range []bool{false, true} {
				method, h := http.MethodGet, http.Header{}
				if c.origin != "" {
					h.Set("Origin", c.origin)
				}
				if preflight {
					method = http.MethodOptions
					h.Set("Access-Control-Request-Method", "GET")
				}
				a := do(t, nil, method, g.url+"/healthz", h, "")
				acao, acac := a.header.Get("Access-Control-Allow-Origin"), a.header.Get("Access-Control-Allow-Credentials")
				if acao == "*" && acac != "" {
					t.Fatalf("preflight %v: Access-Control-Allow-Origin * with credentials %q", preflight, acac)
				}
				if acao != c.wantOrigin || (acac == "true") != c.wantCreds {
					t.Errorf("preflight %v: origin %q creds %q, want %q %v", preflight, acao, acac, c.wantOrigin, c.wantCreds)
				}
			}
		})
	}
}

// Presence (who is online) is backend data: an API key or the admin token, or a loopback
// client in development mode.
func TestPresenceNeedsPublisherCredentials(t *testing.T) {
	keys := server.AuthConfig{JWTKey: testSecret, APIKeys: []string{testAPIKey}, AdminToken: testAdmin}
	jwtTok := mint(t, testSecret, "42", time.Hour, []string{"*"}, []string{"*"})
	cases := []struct {
		name   string
		cfg    server.AuthConfig
		remote bool
		authz  string
		want   int
	}{
		{"dev, loopback", server.AuthConfig{}, false, "", http.StatusOK},
		{"dev, remote", server.AuthConfig{}, true, "", http.StatusForbidden},
		{"anonymous", keys, false, "", http.StatusUnauthorized},
		{"api key", keys, true, "Bearer " + testAPIKey, http.StatusOK},
		{"admin token", keys, true, "Bearer " + testAdmin, http.StatusOK},
		{"jwt", keys, true, "Bearer " + jwtTok, http.StatusForbidden},
		{"admin only, anonymous loopback", server.AuthConfig{AdminToken: testAdmin}, false, "", http.StatusUnauthorized},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ln := listen(t)
			if c.remote {
				ln = remoteListener{ln}
			}
			n := serveReal(t, server.Config{Auth: c.cfg}, nil, ln)
			h := http.Header{}
			if c.authz != "" {
				h.Set("Authorization", c.authz)
			}
			for _, path := range []string{"/v1/presence?topic=scan:1", "/v1/online?user=42"} {
				if a := do(t, nil, http.MethodGet, n.url+path, h, ""); a.status != c.want {
					t.Errorf("GET %s: %d, want %d (%v)", path, a.status, c.want, a.body)
				}
			}
		})
	}
}
