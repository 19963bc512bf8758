package main

import (
	"flag"
	"log/slog"
	"os"

	"github.com/heraldpush/herald/mercure"
)

// addMercureFlags registers the Mercure endpoint's flags of `herald serve`, bound to m
// (YAML: the "mercure:" block; env HERALD_MERCURE_<NAME>).
func addMercureFlags(fs *flag.FlagSet, m *mercure.Config) {
	fs.BoolVar(&m.Enabled, "mercure", false, "serve the Mercure protocol at /.well-known/mercure (GET subscribe, POST publish)")
	fs.StringVar(&m.JWTKey, "mercure-jwt-key", "", "HMAC secret of both Mercure roles, when a role's own key is not set")
	fs.StringVar(&m.PublisherJWTKey, "mercure-publisher-jwt-key", "", "HMAC secret of Mercure publishers' tokens (also MERCURE_PUBLISHER_JWT_KEY)")
	fs.StringVar(&m.PublisherJWTPublicKey, "mercure-publisher-jwt-public-key", "", "PEM `file` with the public key of Mercure publishers' RS*/ES*/EdDSA tokens")
	fs.StringVar(&m.PublisherJWKSURL, "mercure-publisher-jwks-url", "", "JWKS `URL` for Mercure publishers' tokens")
	fs.StringVar(&m.SubscriberJWTKey, "mercure-subscriber-jwt-key", "", "HMAC secret of Mercure subscribers' tokens (also MERCURE_SUBSCRIBER_JWT_KEY)")
	fs.StringVar(&m.SubscriberJWTPublicKey, "mercure-subscriber-jwt-public-key", "", "PEM `file` with the public key of Mercure subscribers' RS*/ES*/EdDSA tokens")
	fs.StringVar(&m.SubscriberJWKSURL, "mercure-subscriber-jwks-url", "", "JWKS `URL` for Mercure subscribers' tokens")
	fs.BoolVar(&m.Anonymous, "mercure-anonymous", false, "let Mercure subscribers without a token in (public updates only)")
	fs.StringVar(&m.Cookie, "mercure-cookie", mercure.DefaultCookie, "cookie `name` carrying a Mercure token")
	fs.Var(&listFlag{p: &m.PublishOrigins}, "mercure-publish-origin", "origin allowed to publish with the cookie (repeatable; * for any)")
	fs.Var(&listFlag{p: &m.CORSOrigins}, "mercure-cors-origin", "origin allowed to subscribe from a browser with credentials (repeatable; * for any)")
	fs.BoolVar(&m.Subscriptions, "mercure-subscriptions", false, "serve the Mercure subscriptions API and subscription events")
	fs.BoolVar(&m.Reset, "mercure-reset", false, "send Herald's event: reset to a Mercure subscriber whose Last-Event-ID is no longer known")
	fs.IntVar(&m.HistorySize, "mercure-history-size", mercure.DefaultHistorySize, "Mercure updates kept for resuming with Last-Event-ID")
	fs.DurationVar(&m.HistoryTTL, "mercure-history-ttl", mercure.DefaultHistoryTTL, "how long Mercure updates are kept for resuming")
	fs.IntVar(&m.MaxTopics, "mercure-max-topics", mercure.DefaultMaxTopics, "most topics of one Mercure subscription or update")
	fs.IntVar(&m.MaxBodyBytes, "mercure-max-body-bytes", mercure.DefaultMaxBodyBytes, "largest Mercure publish request in bytes (413 beyond)")
}

// applyMercureEnv reads the variables Mercure deployments already set,
// MERCURE_PUBLISHER_JWT_KEY and MERCURE_SUBSCRIBER_JWT_KEY, where no layer set the key.
func applyMercureEnv(m *mercure.Config) {
	if v := os.Getenv("MERCURE_PUBLISHER_JWT_KEY"); v != "" && m.PublisherJWTKey == "" {
		m.PublisherJWTKey = v
	}
	if v := os.Getenv("MERCURE_SUBSCRIBER_JWT_KEY"); v != "" && m.SubscriberJWTKey == "" {
		m.SubscriberJWTKey = v
	}
}

// logMercure states at start-up how the Mercure endpoint is set up.
func logMercure(logger *slog.Logger, m mercure.Config) {
	if !m.Enabled {
		return
	}
	subAuth := m.SubscriberJWTKey != "" || m.SubscriberJWTPublicKey != "" || m.SubscriberJWKSURL != ""
	logger.Info("mercure hub at "+mercure.Path, "subscriber_tokens", subAuth, "anonymous", m.Anonymous || !subAuth,
		"subscriptions", m.Subscriptions, "history_size", m.HistorySize, "history_ttl", m.HistoryTTL,
		"cors_origins", len(m.CORSOrigins), "publish_origins", len(m.PublishOrigins))
	if !subAuth {
		logger.Warn("mercure: no subscriber key: every subscriber is anonymous and private updates reach nobody (set --mercure-subscriber-jwt-key or MERCURE_SUBSCRIBER_JWT_KEY)")
	}
}
