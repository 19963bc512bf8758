package server

import (
	"context"
	"net/http"
	"slices"

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
	})
	if err != nil {
		return err
	}
	s.mercure = m
	s.mux.Handle(mercure.Path, m)
	s.mux.Handle(mercure.SubscriptionsPath, m)
	s.mux.Handle(mercure.SubscriptionsPath+"/", m)
	return nil
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
