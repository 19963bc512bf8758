// Command herald is the Herald push gateway: it serves Server-Sent Events streams, accepts
// publishes over HTTP, and ships the tools around it (publish, subscribe, token, bench, probe).
//
// Usage:
//
//	herald serve     [flags]   run the gateway (memory engine on 127.0.0.1:8080 by default)
//	herald publish   [flags]   publish one event
//	herald subscribe [flags]   print a topic's events as JSON lines, resuming on reconnect
//	herald token     [flags]   mint a JWT for tests and scripts
//	herald bench     [flags]   load-test a Herald cluster
//	herald probe URL [flags]   diagnose the proxy path in front of Herald
//	herald outbox init [flags] create the PostgreSQL transactional outbox table
//
// Run "herald COMMAND -h" for a command's flags.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// version is stamped at build time: go build -ldflags "-X main.version=v1.2.3".
var version = "dev"

// command is one subcommand: it parses its own flags from args.
type command struct {
	summary string
	run     func(ctx context.Context, args []string, stdout, stderr io.Writer) error
}

func commands() map[string]command {
	return map[string]command{
		// Each subcommand lives in its own file: serve.go, publish.go, subscribe.go, token.go, bench.go, probe.go.
		"serve":     {"run the gateway (memory engine on 127.0.0.1:8080 by default)", runServe},
		"publish":   publishCommand(),
		"subscribe": subscribeCommand(),
		"token":     {summary: "mint a JWT for tests and scripts", run: runToken},
		"bench":     benchCommand(),
		"probe":     probeCommand(),
		"outbox":    outboxCommand(),
	}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cmds := commands()
	if len(args) > 0 && (args[0] == "version" || args[0] == "--version") {
		fmt.Fprintln(stdout, "herald", version)
		return 0
	}
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(stderr, cmds)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	c, ok := cmds[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "herald: unknown command %q\n\n", args[0])
		usage(stderr, cmds)
		return 2
	}
	if err := c.run(ctx, args[1:], stdout, stderr); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintf(stderr, "herald %s: %v\n", args[0], err)
		var ue usageError
		if errors.As(err, &ue) {
			return 2
		}
		return 1
	}
	return 0
}

// usageError marks an error in the command line (exit status 2).
type usageError struct{ error }

func (e usageError) Unwrap() error { return e.error }

func usage(w io.Writer, cmds map[string]command) {
	fmt.Fprintln(w, "Herald — a real-time push gateway (Server-Sent Events)")
	fmt.Fprintln(w, "\nUsage: herald COMMAND [flags]\n\nCommands:")
	for _, name := range []string{"serve", "publish", "subscribe", "token", "bench", "probe", "outbox"} {
		if c, ok := cmds[name]; ok {
			fmt.Fprintf(w, "  %-10s %s\n", name, c.summary)
		}
	}
	fmt.Fprintln(w, "  version    print the version")
	fmt.Fprintln(w, "\nRun 'herald COMMAND -h' for the flags of a command.")
}
