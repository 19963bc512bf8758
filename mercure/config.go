package mercure

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/heraldpush/herald"
)

// Defaults for Config.
const (
	DefaultCookie       = "mercureAuthorization"
	DefaultHistorySize  = 10000
	DefaultHistoryTTL   = time.Hour
	DefaultMaxTopics    = 100
	DefaultMaxBodyBytes = 512 << 10
	// DefaultMaxClaimSelectors bounds the entries of mercure.publish / mercure.subscribe.
	DefaultMaxClaimSelectors = 1000
)

// Config is the Mercure endpoint's configuration (YAML "mercure:", flags --mercure-…).
type Config struct {
	// Enabled serves GET and POST /.well-known/mercure.
	Enabled bool `yaml:"enabled"`
	// JWTKey is the HMAC secret of both roles when a role's own key is not set.
	JWTKey string `yaml:"jwt_key"`
	// PublisherJWTKey, PublisherJWTPublicKey (PEM file) and PublisherJWKSURL verify
	// publishers' tokens.
	PublisherJWTKey       string `yaml:"publisher_jwt_key"`
	PublisherJWTPublicKey string `yaml:"publisher_jwt_public_key"`
	PublisherJWKSURL      string `yaml:"publisher_jwks_url"`
	// SubscriberJWTKey, SubscriberJWTPublicKey (PEM file) and SubscriberJWKSURL verify
	// subscribers' tokens. Without any, every subscriber is anonymous (public updates only).
	SubscriberJWTKey       string `yaml:"subscriber_jwt_key"`
	SubscriberJWTPublicKey string `yaml:"subscriber_jwt_public_key"`
	SubscriberJWKSURL      string `yaml:"subscriber_jwks_url"`
	// Anonymous lets subscribers without a token in (public updates only).
	Anonymous bool `yaml:"anonymous"`
	// Cookie is the name of the cookie carrying a token (DefaultCookie).
	Cookie string `yaml:"cookie"`
	// PublishOrigins are the origins allowed to publish with a cookie ("*" for any).
	PublishOrigins []string `yaml:"publish_origins"`
	// CORSOrigins are the origins allowed to subscribe from a browser with credentials.
	CORSOrigins []string `yaml:"cors_origins"`
	// Subscriptions serves the subscriptions API and the subscription events.
	Subscriptions bool `yaml:"subscriptions"`
	// Reset sends Herald's "event: reset" to a subscriber whose Last-Event-ID is unknown.
	Reset bool `yaml:"reset"`
	// HistorySize and HistoryTTL are how many updates, and for how long, the log keeps for
	// resuming with Last-Event-ID.
	HistorySize int           `yaml:"history_size"`
	HistoryTTL  time.Duration `yaml:"history_ttl"`
	// MaxTopics bounds the topic selectors of one subscription and the topics of one update.
	MaxTopics int `yaml:"max_topics"`
	// MaxBodyBytes bounds a publish request (413 beyond it).
	MaxBodyBytes int `yaml:"max_body_bytes"`
}

// WithDefaults fills zero values and validates.
func (c Config) WithDefaults() (Config, error) {
	if c.Cookie == "" {
		c.Cookie = DefaultCookie
	}
	if c.HistorySize <= 0 {
		c.HistorySize = DefaultHistorySize
	}
	if c.HistoryTTL <= 0 {
		c.HistoryTTL = DefaultHistoryTTL
	}
	if c.MaxTopics <= 0 {
		c.MaxTopics = DefaultMaxTopics
	}
	if c.MaxBodyBytes <= 0 {
		c.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if c.PublisherJWTKey == "" {
		c.PublisherJWTKey = c.JWTKey
	}
	if c.SubscriberJWTKey == "" {
		c.SubscriberJWTKey = c.JWTKey
	}
	if !c.Enabled {
		return c, nil
	}
	for _, k := range []string{c.PublisherJWTKey, c.SubscriberJWTKey} {
		if strings.HasPrefix(strings.TrimSpace(k), "-----BEGIN") {
			return c, errors.New("mercure: a PEM public key is not an HMAC secret: put it in a file and pass it as --mercure-publisher-jwt-public-key / --mercure-subscriber-jwt-public-key")
		}
	}
	if c.PublisherJWTKey == "" && c.PublisherJWTPublicKey == "" && c.PublisherJWKSURL == "" {
		return c, errors.New("mercure: a publisher key is required (--mercure-publisher-jwt-key, MERCURE_PUBLISHER_JWT_KEY, --mercure-publisher-jwt-public-key or --mercure-publisher-jwks-url)")
	}
	for _, o := range append(append([]string(nil), c.PublishOrigins...), c.CORSOrigins...) {
		if o == "*" {
			continue
		}
		if u, err := url.Parse(o); err != nil || u.Scheme == "" || u.Host == "" || u.Path != "" {
			return c, fmt.Errorf("mercure: origin %q is not scheme://host[:port]", o)
		}
	}
	return c, nil
}

// Retention is the log topic's history retention.
func (c Config) Retention() herald.Retention {
	r := herald.Retention{Size: c.HistorySize, TTL: c.HistoryTTL}
	if r.Size <= 0 {
		r.Size = DefaultHistorySize
	}
	if r.TTL <= 0 {
		r.TTL = DefaultHistoryTTL
	}
	return r
}

// subscriberAuth reports whether subscribers' tokens are verified.
func (c Config) subscriberAuth() bool {
	return c.SubscriberJWTKey != "" || c.SubscriberJWTPublicKey != "" || c.SubscriberJWKSURL != ""
}
