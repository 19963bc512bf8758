package client_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heraldpush/herald/client"
	"github.com/heraldpush/herald/server"
)

// These tests run the SDK against a real in-process gateway (server package, memory engine).

func gateway(t *testing.T, cfg server.Config) string {
	t.Helper()
	url, stop := startGateway(cfg)
	t.Cleanup(stop)
	return url
}

// TestResumeAcrossLifetimes publishes to two topics while the gateway ends every stream
// after a short lifetime: the subscriber must see every event exactly once, in per-topic
// order, across its reconnections.
func TestResumeAcrossLifetimes(t *testing.T) {
	url := gateway(t, server.Config{MaxLifetime: 150 * time.Millisecond, Heartbeat: 60 * time.Millisecond}) // the hub checks lifetimes every Heartbeat/2
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	pub, err := client.NewPublisher(url)
	if err != nil {
		t.Fatal(err)
	}
	topics := []string{"resume:a", "resume:b"}
	const perTopic = 40

	got := map[string][]int{}
	var mu sync.Mutex
	done := make(chan error, 1)
	var logs bytes.Buffer // written by Run's goroutine only, read after it returned
	sub, err := client.NewSubscriber(url, topics, client.WithLastEventID(client.Earliest),
		client.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		done <- sub.Run(ctx, func(m client.Message) error {
			if m.Reset {
				return fmt.Errorf("unexpected reset: %s", m.Data)
			}
			var v struct {
				Topic string
				N     int
			}
			if err := json.Unmarshal(m.Data, &v); err != nil {
				return err
			}
			mu.Lock()
			got[v.Topic] = append(got[v.Topic], v.N)
			mu.Unlock()
			return nil
		})
	}()
	for n := range perTopic {
		for _, topic := range topics {
			_, err := pub.Publish(ctx, client.Event{Topic: topic, Event: "n", Data: map[string]any{"Topic": topic, "N": n}, Final: n == perTopic-1})
			if err != nil {
				t.Fatal(err)
			}
		}
		time.Sleep(15 * time.Millisecond) // spread the publishes over several stream lifetimes
	}
	if err := <-done; !errors.Is(err, client.ErrStreamEnded) {
		t.Fatalf("Run = %v, want ErrStreamEnded", err)
	}
	if n := strings.Count(logs.String(), "reconnecting"); n < 3 {
		t.Fatalf("%d reconnections, want at least 3 to test resuming:\n%s", n, logs.String())
	}
	for _, topic := range topics {
		if len(got[topic]) != perTopic {
			t.Fatalf("%s: got %d events %v, want %d", topic, len(got[topic]), got[topic], perTopic)
		}
		for i, n := range got[topic] {
			if n != i {
				t.Fatalf("%s: event %d is %d: %v", topic, i, n, got[topic])
			}
		}
	}
}

func TestResetOnStaleCursor(t *testing.T) {
	url := gateway(t, server.Config{})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	pub, _ := client.NewPublisher(url)
	sub, _ := client.NewSubscriber(url, []string{"stale:1"}, client.WithLastEventID("zzzzzzzz-5"))
	var msgs []client.Message
	err := sub.Run(ctx, func(m client.Message) error {
		msgs = append(msgs, m)
		if m.Reset {
			_, err := pub.Publish(ctx, client.Event{Topic: "stale:1", Event: "live", Data: "after reset", Final: true})
			return err
		}
		return nil
	})
	if !errors.Is(err, client.ErrStreamEnded) {
		t.Fatalf("Run = %v", err)
	}
	if len(msgs) != 2 || !msgs[0].Reset || msgs[0].Event != "reset" || msgs[1].Reset || string(msgs[1].Data) != "after reset" {
		t.Fatalf("messages %+v", msgs)
	}
	if msgs[1].ID == "" || sub.LastEventID() != msgs[1].ID {
		t.Fatalf("LastEventID %q, last message id %q", sub.LastEventID(), msgs[1].ID)
	}
}

func TestFramingOfHostileData(t *testing.T) {
	url := gateway(t, server.Config{})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	pub, _ := client.NewPublisher(url)
	hostile := "a\r\nb\rc\n\nid: 1\nevent: evil\n\ndata: x"
	if _, err := pub.Publish(ctx, client.Event{Topic: "frame:1", Data: hostile, Final: true}); err != nil {
		t.Fatal(err)
	}
	var msgs []client.Message
	err := client.Subscribe(ctx, url, []string{"frame:1"}, func(m client.Message) error {
		msgs = append(msgs, m)
		return nil
	}, client.WithLastEventID(client.Earliest))
	if !errors.Is(err, client.ErrStreamEnded) {
		t.Fatalf("Run = %v", err)
	}
	want := "a\nb\nc\n\nid: 1\nevent: evil\n\ndata: x" // line breaks arrive as LF
	if len(msgs) != 1 || string(msgs[0].Data) != want || msgs[0].Event != "" {
		t.Fatalf("messages %+v", msgs)
	}
}

func TestPublishErrorsFromGateway(t *testing.T) {
	url := gateway(t, server.Config{})
	ctx := context.Background()
	pub, _ := client.NewPublisher(url)
	tests := []struct {
		name   string
		ev     client.Event
		status int
	}{
		{"bad event name", client.Event{Topic: "t", Event: "a\nb", Data: 1}, 400},
		{"reserved event name", client.Event{Topic: "t", Event: "reset", Data: 1}, 400},
		{"bad topic", client.Event{Topic: "has space", Data: 1}, 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := pub.Publish(ctx, tt.ev)
			var e *client.Error
			if !errors.As(err, &e) || e.Status != tt.status || e.Code == "" || e.Message == "" {
				t.Fatalf("Publish = %v (%#v), want a %d *client.Error with code and message", err, e, tt.status)
			}
		})
	}
}
