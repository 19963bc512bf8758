package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/heraldpush/herald/probe"
)

func probeCommand() command {
	return command{summary: "diagnose the proxy path in front of Herald", run: runProbe}
}

// errProbeFailed makes `herald probe` exit 1 after printing a report with failed checks.
var errProbeFailed = errors.New("at least one check failed")

func runProbe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("probe", "probe URL [flags]   (URL: the events endpoint as browsers reach it, e.g. https://example.com/v1/events)", stderr)
	var o probe.Options
	fs.StringVar(&o.PublishURL, "publish", "", "publish endpoint `URL` (default: the events URL with /events → /publish)")
	fs.StringVar(&o.Token, "token", "", "publisher API key or token, also used to subscribe (env HERALD_TOKEN)")
	fs.StringVar(&o.SubscribeToken, "subscribe-token", "", "subscriber `token` when it differs from --token")
	fs.StringVar(&o.Namespace, "namespace", probe.DefaultNamespace, "namespace of the probe's fresh topics")
	fs.DurationVar(&o.Idle, "idle", probe.DefaultIdle, "how long a quiet stream must survive (above your load balancers' idle timeout)")
	fs.DurationVar(&o.Duration, "duration", probe.DefaultDuration, "how long a busy stream must survive (above route/response timeouts)")
	fs.IntVar(&o.Events, "events", probe.DefaultEvents, "events published to measure the delay")
	fs.IntVar(&o.EventBytes, "event-bytes", 0, "pad each delay event to this many `bytes` (a few KiB shows a buffer that releases events in bulk)")
	fs.DurationVar(&o.EventTimeout, "event-timeout", probe.DefaultEventTimeout, "how long to wait for one event")
	fs.DurationVar(&o.HeadTimeout, "head-timeout", probe.DefaultHeadTimeout, "how long to wait for the stream's first comment")
	fs.DurationVar(&o.Tick, "tick", probe.DefaultTick, "interval of the busy stream's events")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	quiet := fs.Bool("quiet", false, "no progress line on stderr (shown only when stderr is a terminal)")
	// The URL may come before or after the flags.
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{err}
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return usageError{errors.New("the events URL is required")}
	}
	o.URL = fs.Arg(0)
	if err := parseFlags(fs, fs.Args()[1:]); err != nil {
		return err
	}
	if o.Token == "" {
		o.Token = os.Getenv("HERALD_TOKEN")
	}
	if !*quiet && isTerminal(stderr) {
		o.Progress = stderr
	}
	rep, err := probe.Run(ctx, o)
	if err != nil {
		return usageError{err}
	}
	if *asJSON {
		err = rep.WriteJSON(stdout)
	} else {
		err = rep.WriteTable(stdout)
	}
	if err != nil {
		return err
	}
	if ctx.Err() != nil {
		return fmt.Errorf("interrupted after %s", time.Duration(rep.Elapsed*float64(time.Second)).Truncate(time.Millisecond))
	}
	if rep.Failed() {
		return fmt.Errorf("%w (%d of %d)", errProbeFailed, rep.Count(probe.Fail), len(rep.Results))
	}
	return nil
}

// isTerminal reports whether w is a character device (a terminal), where a progress line
// rewritten with \r reads well.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
