package bench

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// publisher publishes the run's events at a fixed rate (open loop: event k is due at
// k/rate after the start, whatever the server's answers take), each carrying its send time
// in the data and in sent_time.
type publisher struct {
	cfg     *Config
	targets []target
	rr      atomic.Uint64 // round-robin position over targets

	published atomic.Uint64
	errs      atomic.Uint64
	lastErr   atomic.Pointer[string]
	rtt       Histogram // publish request round trips
}

func newPublisher(cfg *Config, targets []target) *publisher {
	return &publisher{cfg: cfg, targets: targets}
}

// run publishes rate×duration events spread over topics (the global subscriber indexes of
// the topics; nil for the single topic of broadcast and reconnect) and returns when done.
func (p *publisher) run(ctx context.Context, topics int) {
	total := int(p.cfg.Rate*p.cfg.Duration.Seconds() + 0.5)
	var wg sync.WaitGroup
	for w := range p.cfg.Publishers {
		// Loop w owns the topics i with i % Publishers == w, so each topic's events are
		// published in sequence order.
		n := total / p.cfg.Publishers
		if w < total%p.cfg.Publishers {
			n++
		}
		var own []int
		if p.cfg.Mode == ModeUnicast {
			for i := w; i < topics; i += p.cfg.Publishers {
				own = append(own, i)
			}
			if len(own) == 0 {
				continue
			}
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			p.loop(ctx, n, p.cfg.Rate/float64(p.cfg.Publishers), own)
		}()
	}
	wg.Wait()
}

// loop publishes n events at rate to the topics own (nil: the run's single topic).
func (p *publisher) loop(ctx context.Context, n int, rate float64, own []int) {
	seqs := make(map[int]uint64) // per topic; key 0 for the single topic
	conns := make([]pubConn, len(p.targets))
	for i := range conns {
		conns[i] = pubConn{t: &p.targets[i], token: p.cfg.Token}
	}
	defer func() {
		for i := range conns {
			conns[i].close()
		}
	}()
	var body []byte
	pick := make([]int, 0, p.cfg.Batch)
	start := time.Now()
	for sent := 0; sent < n; {
		due := min(int(time.Since(start).Seconds()*rate)+1, n) - sent
		if due <= 0 {
			at := start.Add(time.Duration(float64(sent) / rate * float64(time.Second)))
			t := time.NewTimer(time.Until(at))
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
			continue
		}
		if ctx.Err() != nil {
			return
		}
		k := min(due, p.cfg.Batch)
		pick = pick[:0]
		for range k {
			i := 0
			if own != nil {
				i = own[rand.IntN(len(own))]
			}
			pick = append(pick, i)
		}
		now := time.Now().UnixNano()
		body = body[:0]
		if p.cfg.Batch > 1 {
			body = append(body, `{"events":[`...)
		}
		for j, i := range pick {
			if j > 0 {
				body = append(body, ',')
			}
			seqs[i]++
			body = p.appendEvent(body, i, now, seqs[i])
		}
		if p.cfg.Batch > 1 {
			body = append(body, "]}"...)
		}
		if err := p.post(ctx, conns, body); err != nil {
			if ctx.Err() != nil {
				return
			}
			// The server did not take them: their sequence numbers are used again.
			for _, i := range pick {
				seqs[i]--
			}
			p.errs.Add(1)
			msg := err.Error()
			p.lastErr.Store(&msg)
		} else {
			p.published.Add(uint64(k))
		}
		sent += k
	}
}

// appendEvent appends one event object.
func (p *publisher) appendEvent(b []byte, topic int, now int64, seq uint64) []byte {
	b = append(b, `{"topic":"`...)
	b = append(b, p.cfg.topic(topic)...)
	b = append(b, `","data":`...)
	b = appendData(b, now, seq)
	b = append(b, `,"sent_time":`...)
	b = strconv.AppendInt(b, now, 10)
	return append(b, '}')
}

// post sends one publish request over the loop's connection to the chosen server.
func (p *publisher) post(ctx context.Context, conns []pubConn, body []byte) error {
	i := 0
	if p.cfg.PublishRoundRobin {
		i = int(p.rr.Add(1) % uint64(len(conns)))
	}
	begin := time.Now()
	status, ans, err := conns[i].post(ctx, body)
	if err != nil {
		return err
	}
	p.rtt.Record(time.Since(begin))
	if status != 200 {
		return fmt.Errorf("publish: status %d: %s", status, bytes.TrimSpace(ans))
	}
	return nil
}
