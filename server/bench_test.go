package server_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/heraldpush/herald/engine/memory"
	"github.com/heraldpush/herald/server"
)

// BenchmarkPublishBatch measures ingest through the HTTP API: each op is one
// POST /v1/publish of 100 events (spread over 1,000 topics) over a keep-alive loopback
// connection to a real server with the memory engine. events/s is the ingest rate; the
// client's JSON and HTTP work runs on the same two cores.
func BenchmarkPublishBatch(b *testing.B) {
	for _, batch := range []int{1, 100, 1000} {
		b.Run(fmt.Sprint(batch), func(b *testing.B) {
			cfg := server.Config{MaxBatch: 1000}
			eng := memory.New(memory.Options{Retention: cfg.Retention})
			srv, err := server.New(cfg, eng, server.Options{})
			if err != nil {
				b.Fatal(err)
			}
			if err := srv.Start(context.Background()); err != nil {
				b.Fatal(err)
			}
			ts := httptest.NewServer(srv.Handler())
			defer func() { srv.Close(); ts.Close(); eng.Close() }()
			bodies := make([][]byte, 10)
			for i := range bodies {
				var buf bytes.Buffer
				buf.WriteString(`{"events":[`)
				for j := range batch {
					if j > 0 {
						buf.WriteByte(',')
					}
					fmt.Fprintf(&buf, `{"topic":"ingest:%d","event":"tick","data":{"seq":%d,"price":123.45,"sym":"HRLD"}}`, (i*batch+j)%1000, j)
				}
				buf.WriteString(`]}`)
				bodies[i] = buf.Bytes()
			}
			client := ts.Client()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				i := 0
				for pb.Next() {
					resp, err := client.Post(ts.URL+"/v1/publish", "application/json", bytes.NewReader(bodies[i%len(bodies)]))
					if err != nil {
						b.Error(err)
						return
					}
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != http.StatusOK {
						b.Errorf("status %d", resp.StatusCode)
						return
					}
					i++
				}
			})
			b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "events/s")
		})
	}
}
