package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/heraldpush/herald/client"
)

// defaultServer is the gateway the client commands talk to without --server or
// HERALD_SERVER.
const defaultServer = "http://127.0.0.1:8080"

// clientFlags are the flags shared by publish and subscribe.
type clientFlags struct {
	server, token string
}

func (c *clientFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&c.server, "server", envOr("HERALD_SERVER", defaultServer), "gateway base `URL` (env HERALD_SERVER)")
	// The token's default is read after parsing, so that -h never prints a secret.
	fs.StringVar(&c.token, "token", "", "bearer `token` or API key (env HERALD_TOKEN)")
}

func (c *clientFlags) options() []client.Option {
	var opts []client.Option
	token := c.token
	if token == "" {
		token = os.Getenv("HERALD_TOKEN")
	}
	if token != "" {
		opts = append(opts, client.WithToken(token))
	}
	return opts
}

func envOr(name, def string) string {
	if v, ok := os.LookupEnv(name); ok && v != "" {
		return v
	}
	return def
}

// newFlagSet returns a flag set that reports errors instead of exiting, with a usage
// header.
func newFlagSet(name, usage string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: herald %s\n\nFlags:\n", usage)
		fs.PrintDefaults()
	}
	return fs
}

// parseFlags parses args, marking errors as usage errors and rejecting positional
// arguments.
func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return err
		}
		return usageError{err}
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Errorf("unexpected argument %q", fs.Arg(0))}
	}
	return nil
}

func publishCommand() command {
	return command{summary: "publish one event and print its id", run: runPublish}
}

func runPublish(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("publish", "publish --topic T [--event E] [--data JSON] [--final] [flags]", stderr)
	var cf clientFlags
	cf.register(fs)
	topic := fs.String("topic", "", "`topic` to publish to (required)")
	event := fs.String("event", "", "event `name` (default none: a \"message\" event)")
	data := fs.String("data", "", "event data: a `JSON` value; text that is not valid JSON is sent as a plain string")
	final := fs.Bool("final", false, "close the topic with this event")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *topic == "" {
		return usageError{fmt.Errorf("--topic is required")}
	}
	p, err := client.NewPublisher(cf.server, cf.options()...)
	if err != nil {
		return usageError{err}
	}
	id, err := p.Publish(ctx, client.Event{Topic: *topic, Event: *event, Data: dataValue(*data), Final: *final})
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(stdout, id)
	return err
}

// dataValue returns s as a JSON value when it is one, else as a string.
func dataValue(s string) any {
	if t := strings.TrimSpace(s); t != "" && json.Valid([]byte(t)) {
		return json.RawMessage(t)
	}
	return s
}
