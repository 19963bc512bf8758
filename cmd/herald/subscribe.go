package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"strings"

	"github.com/heraldpush/herald/client"
)

// stringList is a repeatable string flag.
type stringList []string

func (l *stringList) String() string     { return strings.Join(*l, ",") }
func (l *stringList) Set(s string) error { *l = append(*l, s); return nil }

func subscribeCommand() command {
	return command{summary: "print a topic's events as JSON lines, resuming on reconnect", run: runSubscribe}
}

// printedEvent is one output line of herald subscribe.
type printedEvent struct {
	ID    string `json:"id"`
	Event string `json:"event"`
	Data  any    `json:"data"`
}

func runSubscribe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("subscribe", "subscribe --topic T [--topic U …] [--last-event-id ID] [flags]", stderr)
	var cf clientFlags
	cf.register(fs)
	var topics stringList
	fs.Var(&topics, "topic", "`topic` to subscribe to (repeatable, at least one)")
	lastID := fs.String("last-event-id", "", "start after this event `id`; \"earliest\" replays all retained history")
	verbose := fs.Bool("v", false, "log reconnections to stderr")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if len(topics) == 0 {
		return usageError{errors.New("at least one --topic is required")}
	}
	opts := cf.options()
	if *lastID != "" {
		opts = append(opts, client.WithLastEventID(*lastID))
	}
	if *verbose {
		opts = append(opts, client.WithLogger(slog.New(slog.NewTextHandler(stderr, nil))))
	}
	s, err := client.NewSubscriber(cf.server, topics, opts...)
	if err != nil {
		return usageError{err}
	}
	out := bufio.NewWriter(stdout)
	enc := json.NewEncoder(out)
	enc.SetEscapeHTML(false)
	err = s.Run(ctx, func(m client.Message) error {
		var data any = string(m.Data)
		if json.Valid(m.Data) {
			data = json.RawMessage(m.Data)
		}
		if err := enc.Encode(printedEvent{ID: m.ID, Event: m.Event, Data: data}); err != nil {
			return err
		}
		return out.Flush() // one line per event, as it arrives
	})
	switch {
	case errors.Is(err, client.ErrStreamEnded), ctx.Err() != nil:
		return nil
	}
	return err
}
