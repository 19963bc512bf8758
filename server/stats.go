package server

import (
	"context"
	"encoding/json"
	"os"
	"time"

	"github.com/heraldpush/herald"
	"github.com/heraldpush/herald/metrics"
)

// StatsTopic is the topic the dashboard subscribes to. Each node publishes a metrics snapshot
// there once a second, as event "stats", while it has a subscriber to it; the snapshot names
// the node, so a dashboard on a cluster tells the nodes apart.
const StatsTopic herald.Topic = "herald:stats"

// ReservedNamespace is Herald's own namespace: the publish API refuses its topics.
const ReservedNamespace = "herald"

// nodeSnapshot is the data of a stats event.
type nodeSnapshot struct {
	Node   string `json:"node"`
	Engine string `json:"engine"`
	metrics.Snapshot
}

// runStats samples metrics once a second, keeps the engine and topic gauges current and
// publishes the snapshot for the dashboard. It returns when ctx is done.
func (s *Server) runStats(ctx context.Context, m *metrics.Metrics) {
	node, _ := os.Hostname()
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		m.SetTopics(s.hub.Topics())
		if p, ok := s.engine.(herald.Pinger); ok {
			pctx, cancel := context.WithTimeout(ctx, 900*time.Millisecond)
			m.SetEngineUp(p.Ping(pctx) == nil)
			cancel()
		} else {
			m.SetEngineUp(true)
		}
		m.Sample()
		if !s.hub.HasSubscribers(StatsTopic) {
			continue
		}
		data, err := json.Marshal(nodeSnapshot{Node: node + "/" + s.cfg.Addr, Engine: s.name, Snapshot: m.Snapshot()})
		if err != nil {
			continue
		}
		pctx, cancel := context.WithTimeout(ctx, time.Second)
		_, _, err = s.publish(pctx, []herald.Message{{Topic: StatsTopic, Name: "stats", Data: data}}, origin{kind: originStats})
		cancel()
		if err != nil && ctx.Err() == nil {
			s.log.Debug("publish stats", "err", err)
		}
	}
}
