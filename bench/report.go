package bench

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
)

// WriteSummary writes a human summary of r.
func WriteSummary(w io.Writer, r *Result) error {
	ew := &errWriter{w: w}
	if r.Mode == ModeTasks {
		ew.printf("herald bench: mode tasks, %d tasks at a time on %v", r.Conns, r.Servers)
	} else {
		ew.printf("herald bench: mode %s, %d connections (%d open) on %v", r.Mode, r.Conns, r.Connected, r.Servers)
	}
	switch {
	case r.H2Conns > 0:
		ew.printf(" over %s (%d TCP connections)", r.HTTP, r.H2Conns)
	case r.HTTP != "" && r.HTTP != "http/1.1":
		ew.printf(" over %s", r.HTTP)
	}
	if r.Workers > 1 { // worker processes
		ew.printf(" in %d worker processes", r.Workers)
	}
	if r.Mode == ModeTasks {
		ew.printf("\n")
	} else {
		ew.printf(", connected in %.1fs\n", r.ConnectSec)
	}
	if t := r.Tasks; t != nil {
		ew.printf("  tasks       %d started, %d ended, %d failed (%d steps each, %d before the stream opened, then a final event)\n",
			t.Started, t.Ended, t.Failed, t.Steps, t.ReplaySteps)
		ew.printf("  streams/s   %.0f opened and ended per second over %.1fs; open p50 %.2fms p99 %.2fms; stream p50 %.2fms p99 %.2fms\n",
			t.PerSec, r.WindowSec, t.Open.P50, t.Open.P99, t.Stream.P50, t.Stream.P99)
		ew.printf("  published   %d events, %d errors; publish RTT p50 %.2fms p99 %.2fms\n",
			r.Published, r.PublishErrors, r.PublishRTT.P50, r.PublishRTT.P99)
		ew.printf("  delivered   %d of %d expected; latency p50 %.2fms p99 %.2fms max %.2fms\n",
			r.Deliveries, r.Expected, r.Latency.P50, r.Latency.P99, r.Latency.Max)
		ew.printf("  integrity   steps lost %d, duplicated %d; resets %d\n", r.Lost, r.Duplicated, r.Resets)
	} else if r.Mode != ModeIdle {
		ew.printf("  published   %d events at %g/s for %gs (batch %d), %d errors; publish RTT p50 %.2fms p99 %.2fms\n",
			r.Published, r.Rate, r.Duration, r.Batch, r.PublishErrors, r.PublishRTT.P50, r.PublishRTT.P99)
		ew.printf("  delivered   %d of %d expected, %.0f/s over %.1fs\n", r.Deliveries, r.Expected, r.DeliveriesPerSec, r.WindowSec)
		ew.printf("  latency     p50 %.2fms  p90 %.2fms  p99 %.2fms  max %.2fms\n", r.Latency.P50, r.Latency.P90, r.Latency.P99, r.Latency.Max)
		ew.printf("  integrity   lost %d, duplicated %d, incomplete subscribers %d\n", r.Lost, r.Duplicated, r.Incomplete)
		ew.printf("  resets      %d%s: %d events skipped, %d replayed\n", r.Resets, reasons(r.ResetReasons), r.ResetSkipped, r.ResetReplayed)
	}
	ew.printf("  streams     errors %d, reconnects %d (%d to another server), deliberate drops %d\n", r.Errors, r.Reconnects, r.Hops, r.Drops)
	if r.LastError != "" {
		ew.printf("  last error  %s\n", r.LastError)
	}
	ew.printf("  client CPU  %.2fs in %.1fs", r.ClientCPU, r.WindowSec)
	switch {
	case r.Tasks != nil:
		ew.printf(" (%.0fµs per task)", r.Tasks.ClientCPUPerTask)
	case r.ClientCPUPerDelivery > 0:
		ew.printf(" (%.2fµs per delivery)", r.ClientCPUPerDelivery)
	}
	ew.printf("\n")
	if r.ServerPID > 0 {
		ew.printf("  server      pid %d: RSS %.1f → %.1f MiB", r.ServerPID, float64(r.ServerRSSBefore)/(1<<20), float64(r.ServerRSSAfter)/(1<<20))
		if r.Tasks == nil {
			ew.printf(" (%.0f bytes per connection)", r.ServerRSSPerConn)
		}
		ew.printf(", CPU %.2fs", r.ServerCPU)
		switch {
		case r.Tasks != nil:
			ew.printf(" (%.0fµs per task)", r.Tasks.ServerCPUPerTask)
		case r.ServerCPUPerDelivery > 0:
			ew.printf(" (%.2fµs per delivery)", r.ServerCPUPerDelivery)
		}
		ew.printf("\n")
	}
	return ew.err
}

// reasons formats reset counts by reason: " (malformed 2, expired 1)", sorted by name.
func reasons(m map[string]uint64) string {
	if len(m) == 0 {
		return ""
	}
	names := slices.Sorted(maps.Keys(m))
	parts := make([]string, len(names))
	for i, n := range names {
		parts[i] = fmt.Sprintf("%s %d", n, m[n])
	}
	return " (" + strings.Join(parts, ", ") + ")"
}

type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) printf(format string, args ...any) {
	if e.err == nil {
		_, e.err = fmt.Fprintf(e.w, format, args...)
	}
}
