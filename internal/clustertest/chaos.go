package clustertest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heraldpush/herald/internal/testserver"
	"github.com/heraldpush/herald/sse"
)

// Chaos is the promise under fire: three `herald serve` processes over one broker, clients
// hopping between them with their Last-Event-ID, two publishers on random nodes, and — in the
// middle of it — a node killed with SIGKILL and restarted on its address (Fault NodeKill), or
// the broker itself stopped and started again (Fault BrokerRestart). Then a final event.
//
// It checks, against the topic's history read at the end: every accepted publish is in it
// (after a broker restart: every publish accepted after it); every subscriber received the
// history after its first cursor exactly — each event once, in order — or, where the broker
// lost its data, an explicit reset whose cursor the events after it continue exactly; no reset
// at all unless the broker lost data; and every subscriber ends with 204 after the final event.
type Chaos struct {
	Fault       Fault
	Subscribers int           // at least 100 in the suite
	Rate        int           // events per second, both publishers together
	Duration    time.Duration // of publishing
	// NodeArgs are the engine flags of `herald serve` (e.g. --engine redis --redis-url …).
	NodeArgs []string
	// Broker is needed for BrokerRestart: Stop and Start, and whether its data survives.
	Broker Broker
	// Persistent reports that the broker keeps its data across Stop and Start, so no reset
	// is acceptable even for BrokerRestart.
	Persistent bool
	// Faults is how many times the fault strikes, spread over Duration (0 means once).
	Faults int
}

// FromEnv overrides the size of c from HERALD_CHAOS ("duration,subscribers,rate,faults",
// e.g. "10m,300,300,9"), for long runs by hand; the suite's runs stay short.
func (c Chaos) FromEnv(t *testing.T) Chaos {
	v := os.Getenv("HERALD_CHAOS")
	if v == "" {
		return c
	}
	var d string
	if _, err := fmt.Sscanf(strings.ReplaceAll(v, ",", " "), "%s %d %d %d", &d, &c.Subscribers, &c.Rate, &c.Faults); err != nil {
		t.Fatalf("HERALD_CHAOS=%q: want duration,subscribers,rate,faults: %v", v, err)
	}
	dur, err := time.ParseDuration(d)
	if err != nil {
		t.Fatalf("HERALD_CHAOS=%q: %v", v, err)
	}
	c.Duration = dur
	return c
}

// RunChaos runs the suite's two chaos scenarios with nodeArgs as the engine flags: NodeKill,
// then BrokerRestart with b's Stop and Start (persistent: the broker keeps its data). Both
// take their size from HERALD_CHAOS when it is set (FromEnv).
func RunChaos(t *testing.T, nodeArgs []string, b Broker, persistent bool) {
	base := Chaos{Subscribers: 100, Rate: 150, Duration: 15 * time.Second, NodeArgs: nodeArgs}
	t.Run("NodeKill", func(t *testing.T) {
		c := base.FromEnv(t)
		c.Fault = NodeKill
		c.Run(t)
	})
	t.Run("BrokerRestart", func(t *testing.T) {
		c := base.FromEnv(t)
		c.Fault, c.Broker, c.Persistent = BrokerRestart, b, persistent
		c.Run(t)
	})
}

// Fault is what goes wrong mid-run.
type Fault int

// The faults Chaos injects.
const (
	NodeKill      Fault = iota // one Herald node is killed with SIGKILL and restarted
	BrokerRestart              // the broker is stopped and started again
)

// chaosEvent is what a subscriber saw.
type chaosEvent struct {
	id, name, data string
}

// chaosSub is one hopping subscriber's record.
type chaosSub struct {
	got      []chaosEvent
	ended    bool // got 204 after the final event
	sawFinal bool
	hops     int
	err      error
}

// Run runs the scenario.
func (c Chaos) Run(t *testing.T) {
	bin := testserver.BuildHerald(t)
	args := append([]string{"--heartbeat", "1s", "--history-size", "100000", "--history-ttl", "1h",
		"--log-level", "warn", "--drain", "0s"}, c.NodeArgs...)
	nodes := make([]*testserver.HeraldNode, 3)
	urls := make([]string, 3)
	for i := range nodes {
		nodes[i] = testserver.StartHerald(t, bin, args...)
		urls[i] = nodes[i].URL()
	}
	defer func() {
		if t.Failed() {
			for i, n := range nodes {
				t.Logf("node %d log:\n%s", i, tail(n.Log(), 4000))
			}
		}
	}()
	topic := fmt.Sprintf("chaos:%d", time.Now().UnixNano())
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	pubClient := &http.Client{Timeout: 3 * time.Second}

	firstID, err := chaosPublish(pubClient, urls[0], topic, "start", false)
	if err != nil {
		t.Fatalf("first publish: %v", err)
	}

	faults := max(c.Faults, 1)
	ctx, cancel := context.WithTimeout(context.Background(), c.Duration+time.Duration(faults)*Wait+60*time.Second)
	defer cancel()
	subs := make([]*chaosSub, c.Subscribers)
	var subWG sync.WaitGroup
	for i := range subs {
		subs[i] = &chaosSub{}
		subWG.Add(1)
		go func(s *chaosSub) {
			defer subWG.Done()
			s.run(ctx, client, urls, topic, firstID)
		}(subs[i])
	}

	// Publishers: together c.Rate events per second, each to a random node.
	type outcome struct {
		data      string
		id        string
		accepted  bool
		afterHeal bool // accepted after the last fault was healed
	}
	var (
		mu       sync.Mutex
		outcomes []outcome
		heals    int
	)
	start := time.Now()
	var pubWG sync.WaitGroup
	for p := range 2 {
		pubWG.Add(1)
		go func() {
			defer pubWG.Done()
			tick := time.NewTicker(time.Second * 2 / time.Duration(c.Rate))
			defer tick.Stop()
			for i := 0; time.Since(start) < c.Duration; i++ {
				<-tick.C
				data := fmt.Sprintf("p%d-%d", p, i)
				mu.Lock()
				h := heals == faults
				mu.Unlock()
				id, err := chaosPublish(pubClient, urls[rand.IntN(len(urls))], topic, data, false)
				mu.Lock()
				outcomes = append(outcomes, outcome{data: data, id: id, accepted: err == nil, afterHeal: h && err == nil})
				mu.Unlock()
			}
		}()
	}

	// The faults, spread over the run (once: a third of the way in); each healed two seconds
	// later.
	for f := range faults {
		time.Sleep(time.Until(start.Add(c.Duration * time.Duration(f+1) / time.Duration(faults+2))))
		c.strike(t, nodes[1+f%2], pubClient, urls[0], topic)
		mu.Lock()
		heals++
		mu.Unlock()
	}
	pubWG.Wait()

	// The final event ends every subscriber.
	deadline := time.Now().Add(Wait)
	for {
		if _, err := chaosPublish(pubClient, urls[0], topic, "final", true); err == nil {
			break
		} else if time.Now().After(deadline) {
			t.Fatalf("final publish: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	subWG.Wait()

	history := chaosHistory(t, client, urls[0], topic)
	inHistory := make(map[string]bool, len(history))
	for _, ev := range history {
		inHistory[ev.data] = true
	}
	accepted, lostAccepted := 0, 0
	for _, o := range outcomes {
		if !o.accepted {
			continue
		}
		accepted++
		mustHave := c.Fault == NodeKill || c.Persistent || o.afterHeal
		if mustHave && !inHistory[o.data] {
			lostAccepted++
			if lostAccepted <= 5 {
				t.Errorf("accepted publish %s (%s) is not in history", o.data, o.id)
			}
		}
	}
	hops, resets := 0, 0
	for i, s := range subs {
		hops += s.hops
		if s.err != nil {
			t.Errorf("subscriber %d: %v", i, s.err)
			continue
		}
		resets += c.check(t, i, s, history, firstID)
	}
	t.Logf("%s: %d events accepted of %d published, %d in history; %d subscribers hopped %d times in all; %d resets",
		map[Fault]string{NodeKill: "node kill", BrokerRestart: "broker restart"}[c.Fault],
		accepted, len(outcomes), len(history), len(subs), hops, resets)
}

// strike injects the fault and heals it two seconds later.
func (c Chaos) strike(t *testing.T, victim *testserver.HeraldNode, client *http.Client, base, topic string) {
	switch c.Fault {
	case NodeKill:
		victim.Kill()
	case BrokerRestart:
		c.Broker.Stop(t)
	}
	time.Sleep(2 * time.Second)
	switch c.Fault {
	case NodeKill:
		victim.Start()
	case BrokerRestart:
		c.Broker.Start(t)
		// The broker is back once a publish goes through again.
		deadline := time.Now().Add(Wait)
		for {
			if _, err := chaosPublish(client, base, topic+":probe", "x", false); err == nil {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("no publish accepted after the broker came back")
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
}

// check compares one subscriber's events with the history and returns its resets.
func (c Chaos) check(t *testing.T, i int, s *chaosSub, history []chaosEvent, firstID string) int {
	t.Helper()
	if !s.ended {
		t.Errorf("subscriber %d did not end with 204 after the final event", i)
	}
	// The part to compare exactly starts after the last reset, or after the first cursor.
	from, resets := firstID, 0
	rest := s.got
	for j, ev := range s.got {
		if ev.name == "reset" {
			resets++
			from, rest = ev.id, s.got[j+1:]
		}
	}
	if resets > 0 && (c.Fault == NodeKill || c.Persistent) {
		t.Errorf("subscriber %d got %d resets (first: %+v); nothing was lost, so none is acceptable", i, resets, firstReset(s.got))
	}
	want := history
	for k, ev := range history {
		if ev.id == from {
			want = history[k+1:]
			break
		}
	}
	if len(rest) != len(want) || !equalData(rest, want) {
		j := 0
		for j < len(rest) && j < len(want) && rest[j].data == want[j].data {
			j++
		}
		t.Errorf("subscriber %d: %d events after %s, want %d; first difference at %d: got %v, want %v",
			i, len(rest), from, len(want), j, at(rest, j), at(want, j))
	}
	return resets
}

func equalData(a, b []chaosEvent) bool {
	for i := range a {
		if a[i].data != b[i].data {
			return false
		}
	}
	return true
}

func at(evs []chaosEvent, i int) any {
	if i < len(evs) {
		return evs[i]
	}
	return "nothing"
}

func firstReset(evs []chaosEvent) chaosEvent {
	for _, ev := range evs {
		if ev.name == "reset" {
			return ev
		}
	}
	return chaosEvent{}
}

// run reads for a random 0.3–1.5 s at a time from a random node, resuming with its cursor,
// until the topic ended (204 after the final event) or ctx is done.
func (s *chaosSub) run(ctx context.Context, client *http.Client, urls []string, topic, cursor string) {
	for {
		if ctx.Err() != nil {
			s.err = fmt.Errorf("still running when the scenario timed out (final seen: %v)", s.sawFinal)
			return
		}
		s.hops++
		read := 300*time.Millisecond + rand.N(1200*time.Millisecond)
		rctx, cancel := context.WithTimeout(ctx, read)
		req, _ := http.NewRequestWithContext(rctx, http.MethodGet,
			urls[rand.IntN(len(urls))]+"/v1/events?topic="+url.QueryEscape(topic), nil)
		req.Header.Set("Last-Event-ID", cursor)
		resp, err := client.Do(req)
		if err != nil {
			cancel()
			sleepCtx(ctx, 50*time.Millisecond) // a node that is down
			continue
		}
		switch resp.StatusCode {
		case http.StatusNoContent:
			resp.Body.Close()
			cancel()
			if !s.sawFinal {
				s.err = errors.New("204 before the final event was received")
			}
			s.ended = true
			return
		case http.StatusOK:
		default:
			resp.Body.Close()
			cancel()
			sleepCtx(ctx, 50*time.Millisecond)
			continue
		}
		r := sse.NewReader(resp.Body)
		for {
			ev, err := r.Next()
			if err != nil {
				break
			}
			if ev.ID != "" {
				cursor = ev.ID
			}
			if ev.Name == "" && len(ev.Data) == 0 {
				continue // an id-only block: the cursor only
			}
			s.got = append(s.got, chaosEvent{id: ev.ID, name: ev.Name, data: string(ev.Data)})
			if string(ev.Data) == "final" {
				s.sawFinal = true
			}
		}
		resp.Body.Close()
		cancel()
	}
}

func sleepCtx(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

// chaosPublish publishes one event and returns its id.
func chaosPublish(client *http.Client, base, topic, data string, final bool) (string, error) {
	body, _ := json.Marshal(map[string]any{"topic": topic, "data": data, "final": final})
	resp, err := client.Post(base+"/v1/publish", "application/json", bytes.NewReader(body))
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var ans struct{ ID string }
	if err := json.NewDecoder(resp.Body).Decode(&ans); err != nil || resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("publish to %s: status %d (%v)", base, resp.StatusCode, err)
	}
	return ans.ID, nil
}

// chaosHistory reads the topic's whole retained history (it ends with the final event).
func chaosHistory(t *testing.T, client *http.Client, base, topic string) []chaosEvent {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), Wait)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet,
		base+"/v1/events?topic="+url.QueryEscape(topic)+"&lastEventID=earliest", nil)
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("read history: %v", err)
	}
	defer resp.Body.Close()
	var evs []chaosEvent
	r := sse.NewReader(resp.Body)
	for {
		ev, err := r.Next()
		if err != nil {
			break
		}
		if ev.Name == "" && len(ev.Data) == 0 {
			continue
		}
		evs = append(evs, chaosEvent{id: ev.ID, name: ev.Name, data: string(ev.Data)})
	}
	if len(evs) == 0 || evs[len(evs)-1].data != "final" {
		t.Fatalf("history of %s does not end with the final event (%d events)", topic, len(evs))
	}
	return evs
}

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return strings.TrimSpace(s)
}
