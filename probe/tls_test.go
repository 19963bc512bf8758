package probe_test

import (
	"context"
	"crypto/tls"
	"net/http"
	"testing"
	"time"

	"github.com/heraldpush/herald/internal/testserver"
	"github.com/heraldpush/herald/probe"
	"github.com/heraldpush/herald/server"
)

// TestProbeOverHTTP2 probes Herald served over TLS: the probe negotiates h2 through ALPN,
// as a browser would, and the http version check passes; Herald sees HTTP/2.0.
func TestProbeOverHTTP2(t *testing.T) {
	certFile, keyFile, pool := testserver.SelfSignedCert(t)
	addr := startHerald(t, server.Config{Heartbeat: 500 * time.Millisecond, TLSCert: certFile, TLSKey: keyFile})
	opts := shortOptions("https://" + addr + "/v1/events")
	opts.Idle, opts.Duration = 1500*time.Millisecond, 1500*time.Millisecond
	opts.Client = &http.Client{Transport: &http.Transport{
		TLSClientConfig:   &tls.Config{RootCAs: pool},
		ForceAttemptHTTP2: true,
	}}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	rep, err := probe.Run(ctx, opts)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if rep.Failed() {
		t.Errorf("%d checks failed over HTTP/2: %+v", rep.Count(probe.Fail), rep.Results)
	}
	for check, want := range map[string]string{probe.CheckHTTPVersion: "HTTP/2.0", probe.CheckUpstreamProto: "HTTP/2.0"} {
		res, _ := rep.Result(check)
		if res.Status != probe.Pass || res.Figure != want {
			t.Errorf("%s: %s %q, want pass %q", check, res.Status, res.Figure, want)
		}
	}
}
