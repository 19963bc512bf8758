package main

import (
	"flag"
	"log/slog"
	"net"
	"net/netip"

	"github.com/heraldpush/herald/auth"
	"github.com/heraldpush/herald/server"
)

// addSecurityFlags registers the authentication and limit flags of `herald serve`, bound to
// c.Auth and c.Limits (YAML keys: the flag names with _ for -; env HERALD_<NAME>).
func addSecurityFlags(fs *flag.FlagSet, c *server.Config) {
	a, l := &c.Auth, &c.Limits
	fs.StringVar(&a.JWTKey, "jwt-key", "", "HMAC secret for HS256/384/512 tokens, ≥ 16 bytes (pass it as HERALD_JWT_KEY, not on the command line)")
	fs.StringVar(&a.JWTPublicKey, "jwt-public-key", "", "PEM `file` with the public key of RS*/PS*/ES*/EdDSA tokens")
	fs.StringVar(&a.JWKSURL, "jwks-url", "", "JWKS `URL` with the token verification keys (cached, refreshed every 15m)")
	fs.StringVar(&a.JWTIssuer, "jwt-issuer", "", "required token iss, when set")
	fs.StringVar(&a.JWTAudience, "jwt-audience", "", "required token aud, when set")
	fs.DurationVar(&a.JWTLeeway, "jwt-leeway", auth.DefaultLeeway, "clock skew allowed on exp/nbf (negative = none); a stream ends at exp plus this")
	fs.Var(&listFlag{p: &a.APIKeys}, "api-key", "publisher API `key` (repeatable or comma-separated; may publish to any topic)")
	fs.StringVar(&a.Cookie, "auth-cookie", auth.DefaultCookie, "cookie `name` carrying a subscriber's token")
	fs.StringVar(&a.AdminToken, "admin-token", "", "token for /dashboard and herald:* topics (≥ 16 bytes; needed for them once any credential is configured)")
	fs.BoolVar(&a.ProtectMetrics, "protect-metrics", false, "require the admin token for /metrics too")
	fs.IntVar(&l.MaxConnsPerUser, "max-conns-per-user", server.DefaultMaxConnsPerUser, "most open streams per token subject (-1 = unlimited)")
	fs.IntVar(&l.MaxConnsPerIP, "max-conns-per-ip", 0, "most open streams per client address, IPv6 by /64 (0 = unlimited; set it when clients connect directly, not through a proxy)")
	fs.Float64Var(&l.ConnRatePerIP, "conn-rate-per-ip", 0, "new streams per second per client address (0 = unlimited; 429 beyond it)")
	fs.IntVar(&l.ConnBurstPerIP, "conn-burst-per-ip", server.DefaultConnBurstPerIP, "burst of new streams per client address with --conn-rate-per-ip")
	fs.Float64Var(&l.PublishRate, "publish-rate", 0, "publish requests per second per API key, token subject or address (0 = unlimited)")
	fs.IntVar(&l.PublishBurst, "publish-burst", server.DefaultPublishBurst, "burst of publish requests with --publish-rate")
	fs.DurationVar(&l.ReadHeaderTimeout, "read-header-timeout", server.DefaultReadHeaderTimeout, "longest time to send request headers (slowloris)")
	fs.DurationVar(&l.ReadTimeout, "read-timeout", server.DefaultReadTimeout, "longest time to send a publish body (negative = none)")
}

// logSecurity states at start-up who may subscribe and publish; development mode (no
// credentials at all) is a warning, louder when the node listens beyond loopback.
func logSecurity(logger *slog.Logger, srv *server.Server, addr net.Addr) {
	cfg := srv.Config()
	a := srv.Authenticator()
	l := cfg.Limits
	logger.Info("auth and limits", "jwt", a.VerifiesTokens(), "api_keys", len(cfg.Auth.APIKeys),
		"admin_token", cfg.Auth.AdminToken != "", "max_conns_per_user", l.MaxConnsPerUser,
		"max_conns_per_ip", l.MaxConnsPerIP, "conn_rate_per_ip", l.ConnRatePerIP,
		"publish_rate", l.PublishRate, "max_topics", cfg.MaxTopics, "read_header_timeout", l.ReadHeaderTimeout)
	if !a.VerifiesTokens() {
		msg := "DEVELOPMENT MODE: no --jwt-key, --jwt-public-key or --jwks-url; anyone who can reach this node may subscribe to every topic"
		if !a.HasAPIKeys() {
			msg += ", and only loopback clients may publish (no --api-key)"
		}
		logger.Warn(msg)
		if !isLoopback(addr) {
			logger.Warn("DEVELOPMENT MODE on a non-loopback address: configure credentials before exposing this node", "addr", addr.String())
		}
	}
}

func isLoopback(addr net.Addr) bool {
	ap, err := netip.ParseAddrPort(addr.String())
	return err == nil && ap.Addr().Unmap().IsLoopback()
}
