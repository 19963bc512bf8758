package outbox

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// relayMetrics are a Relay's Prometheus series, labelled with the table:
// herald_outbox_rows_delivered_total, herald_outbox_dead_rows_total,
// herald_outbox_lag_seconds and herald_outbox_serving.
type relayMetrics struct {
	delivered prometheus.Counter
	dead      prometheus.Counter
	lag       prometheus.Gauge
	serving   prometheus.Gauge
}

func newRelayMetrics(reg prometheus.Registerer, table string) (*relayMetrics, error) {
	labels := prometheus.Labels{"table": table}
	m := &relayMetrics{
		delivered: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "herald_outbox_rows_delivered_total", ConstLabels: labels,
			Help: "Outbox rows stored into their topic's history and removed (or marked) by this node.",
		}),
		dead: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "herald_outbox_dead_rows_total", ConstLabels: labels,
			Help: "Outbox rows moved to the dead table because they can never be delivered.",
		}),
		lag: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "herald_outbox_lag_seconds", ConstLabels: labels,
			Help: "Age of the oldest undelivered outbox row at the start of the last round (0 when empty or not serving).",
		}),
		serving: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "herald_outbox_serving", ConstLabels: labels,
			Help: "1 while this node holds the outbox lock and delivers the table, else 0.",
		}),
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.delivered, m.dead, m.lag, m.serving} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("outbox metrics: %w", err)
		}
	}
	return m, nil
}
