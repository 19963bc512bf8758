package server

import (
	"context"
	"net/http"
	"slices"
	"time"

	"github.com/heraldpush/herald"
	"github.com/heraldpush/herald/mercure"
)

// setupMercure builds the Mercure hub when cfg.Mercure.Enabled and mounts it on
// /.well-known/mercure (package mercure).
func (s *Server) setupMercure() error {
	if !s.cfg.Mercure.Enabled {
		return nil
	}
	m, err := mercure.New(s.cfg.Mercure, mercure.Options{
		Engine:        s.engine,
		Hub:           s.hub,
		Logger:        s.log,
		Heartbeat:     s.cfg.Heartbeat,
		MaxQueueBytes: s.cfg.MaxQueueBytes,
		NodeHeartbeat: s.cfg.PresenceHeartbeat, // presence_heartbeat, presence_ttl
		NodeTTL:       s.cfg.PresenceTTL,
	})
	if err != nil {
		return err
	}
	s.mercure = m
	h := s.limitMercure(m)
	s.mux.Handle(mercure.Path, h)
	s.mux.Handle(mercure.SubscriptionsPath, h)
	s.mux.Handle(mercure.SubscriptionsPath+"/", h)
	return nil
}

// limitMercure applies the node's limits (limits.go) to the Mercure endpoint as to /v1:
// new streams per address (--conn-rate-per-ip) and open streams per address
// (--max-conns-per-ip) answer 429; a publish counts against --publish-rate (keyed by
// address: the token is read inside package mercure) and its body must arrive within
// --read-timeout.
func (s *Server) limitMercure(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		lim := s.sec.limits
		ip := clientIP(r)
		switch {
		case r.Method == http.MethodGet && r.URL.Path == mercure.Path:
			if ok, retry := lim.connRate.Allow(ip); !ok {
				s.tooMany(w, r, retry, "rate_limited", "too many new connections from this address")
				return
			}
			release, reason := lim.acquireConn(ip, "")
			if release == nil {
				s.tooMany(w, r, s.cfg.Retry, "too_many_streams", reason)
				return
			}
			defer release()
		case r.Method == http.MethodPost:
			if ok, retry := lim.publishRate.Allow("mercure:" + ip); !ok {
				s.tooMany(w, r, retry, "rate_limited", "too many publish requests from this address")
				return
			}
			if d := s.cfg.Limits.ReadTimeout; d > 0 {
				_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(d))
			}
		}
		next.ServeHTTP(w, r)
	})
}

// Mercure returns the node's Mercure hub, nil unless enabled.
func (s *Server) Mercure() *mercure.Hub { return s.mercure }

func (s *Server) startMercure() {
	if s.mercure != nil {
		s.mercure.Start()
	}
}

func (s *Server) drainMercure(ctx context.Context) {
	if s.mercure != nil {
		s.mercure.Drain(ctx, s.cfg.Drain)
	}
}

func (s *Server) closeMercure() {
	if s.mercure != nil {
		s.mercure.Close()
	}
}

// refuseMercureLog answers 403 for a /v1 stream on the Mercure log topic: it carries private
// updates, which only the Mercure endpoint may hand out.
func refuseMercureLog(w http.ResponseWriter, topics []herald.Topic) bool {
	if !slices.Contains(topics, mercure.LogTopic) {
		return false
	}
	writeError(w, http.StatusForbidden, "forbidden", "the topic "+string(mercure.LogTopic)+" is read through /.well-known/mercure only")
	return true
}
