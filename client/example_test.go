package client_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/heraldpush/herald/client"
	"github.com/heraldpush/herald/server"
)

// A backend publishes a task's progress; the last step is final and closes the topic.
func ExamplePublisher() {
	gateway, stop := startGateway(server.Config{})
	defer stop()
	ctx := context.Background()

	pub, err := client.NewPublisher(gateway) // e.g. "http://127.0.0.1:8080"
	if err != nil {
		fmt.Println(err)
		return
	}
	id, err := pub.Publish(ctx, client.Event{Topic: "scan:42", Event: "progress", Data: map[string]any{"step": "vision", "pct": 25}})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("got an id:", id != "")

	ids, err := pub.PublishBatch(ctx, []client.Event{
		{Topic: "scan:42", Event: "progress", Data: map[string]any{"step": "rule", "pct": 50}},
		{Topic: "scan:42", Event: "done", Data: "all clear", Final: true},
	})
	fmt.Println(len(ids), "ids", err)

	// The topic is closed now.
	_, err = pub.Publish(ctx, client.Event{Topic: "scan:42", Data: "late"})
	var herr *client.Error
	if errors.As(err, &herr) {
		fmt.Println("status", herr.Status)
	}
	// Output:
	// got an id: true
	// 2 ids <nil>
	// status 409
}

// A subscriber that joins after the task started replays it from the start, follows it
// live and stops when the task's final event closed its topic.
func ExampleSubscriber() {
	gateway, stop := startGateway(server.Config{})
	defer stop()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	pub, _ := client.NewPublisher(gateway)
	pub.Publish(ctx, client.Event{Topic: "scan:7", Event: "progress", Data: map[string]int{"pct": 10}})

	sub, err := client.NewSubscriber(gateway, []string{"scan:7"}, client.WithLastEventID(client.Earliest))
	if err != nil {
		fmt.Println(err)
		return
	}
	err = sub.Run(ctx, func(m client.Message) error {
		if m.Reset {
			fmt.Println("reset: refetch the task's state")
			return nil
		}
		fmt.Printf("%s %s\n", m.Event, m.Data)
		if m.Event == "progress" {
			// The rest of the task, published while we listen.
			pub.Publish(ctx, client.Event{Topic: "scan:7", Event: "done", Data: "ok", Final: true})
		}
		return nil
	})
	fmt.Println(err == client.ErrStreamEnded)
	// Output:
	// progress {"pct":10}
	// done ok
	// true
}
