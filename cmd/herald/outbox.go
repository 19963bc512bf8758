package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/heraldpush/herald"
	"github.com/heraldpush/herald/bridge"
	"github.com/heraldpush/herald/metrics"
	"github.com/heraldpush/herald/outbox"
)

// outboxDSNEnv names the environment variable that supplies the DSN of outbox rules (and of
// `herald outbox init`) that set none, so credentials stay out of the config file.
const outboxDSNEnv = "HERALD_OUTBOX_DSN"

func outboxCommand() command {
	return command{summary: "create the transactional outbox table in PostgreSQL (outbox init)", run: runOutbox}
}

// runOutbox dispatches `herald outbox SUBCOMMAND`; the only one is init:
//
//	herald outbox init --dsn postgres://app@db/app [--table herald_outbox] [--notify=false] [--print]
func runOutbox(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "init" {
		fmt.Fprintln(stderr, "Usage: herald outbox init --dsn DSN [--table herald_outbox] [--notify=true] [--print]")
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help") {
			return flag.ErrHelp
		}
		return usageError{errors.New("want the subcommand init")}
	}
	fs := flag.NewFlagSet("outbox init", flag.ContinueOnError)
	fs.SetOutput(stderr)
	// The default is read after parsing, so -h never prints a password from the environment.
	dsn := fs.String("dsn", "", "PostgreSQL connection string (default $"+outboxDSNEnv+")")
	table := fs.String("table", bridge.DefaultOutboxTable, "outbox table; rows that cannot be delivered go to TABLE_dead")
	notify := fs.Bool("notify", true, "create the trigger that NOTIFYs Herald on insert (false drops it; polling alone then delivers)")
	print := fs.Bool("print", false, "print the SQL instead of running it")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: herald outbox init --dsn DSN [flags]")
		fmt.Fprintln(stderr, "\nCreates the outbox table, its dead-letter table and the NOTIFY trigger; safe to run again.")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{err}
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Errorf("unexpected arguments %q", fs.Args())}
	}
	if err := bridge.CheckOutboxTable(*table); err != nil {
		return usageError{err}
	}
	if *print {
		fmt.Fprint(stdout, outbox.SchemaSQL(*table, *notify))
		return nil
	}
	if *dsn == "" {
		*dsn = os.Getenv(outboxDSNEnv)
	}
	if *dsn == "" {
		return usageError{errors.New("--dsn (or " + outboxDSNEnv + ") is required")}
	}
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(cctx, *dsn)
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer conn.Close(context.Background())
	if err := outbox.Init(cctx, conn, *table, *notify); err != nil {
		return err
	}
	trigger := "with the NOTIFY trigger"
	if !*notify {
		trigger = "without a NOTIFY trigger (polling only)"
	}
	fmt.Fprintf(stdout, "outbox ready: %s and %s_dead, %s\n", *table, *table, trigger)
	return nil
}

// outboxRelays builds a relay for each outbox rule; a rule without dsn takes
// HERALD_OUTBOX_DSN.
func outboxRelays(rules []bridge.Rule, eng herald.Engine, maxData int, met *metrics.Metrics, logger *slog.Logger) ([]*outbox.Relay, error) {
	var relays []*outbox.Relay
	for _, r := range rules {
		src := *r.Outbox
		if src.DSN == "" {
			src.DSN = os.Getenv(outboxDSNEnv)
		}
		rel, err := outbox.New(eng, outbox.Options{Source: src, MaxDataBytes: maxData,
			Registerer: met.Registerer(), Logger: logger})
		if err != nil {
			return nil, fmt.Errorf("bridge: outbox table %s: %w", src.WithDefaults().Table, err)
		}
		relays = append(relays, rel)
	}
	return relays, nil
}

// runRelays runs relays until the returned stop is called; stop waits until every relay has
// closed its connection (and so released its lock).
func runRelays(ctx context.Context, relays []*outbox.Relay) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	for _, r := range relays {
		wg.Go(func() { _ = r.Run(ctx) })
	}
	return func() { cancel(); wg.Wait() }
}
