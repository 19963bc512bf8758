package probe

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// Status is the verdict of one check.
type Status string

// Verdicts, from best to worst.
const (
	Pass Status = "pass"
	Warn Status = "warn"
	Fail Status = "fail"
)

// Check names, in the order Run reports them.
const (
	CheckResponse      = "response"
	CheckFirstByte     = "first byte"
	CheckFirstComment  = "first comment"
	CheckContentType   = "content-type"
	CheckCacheControl  = "cache-control"
	CheckAccelBuffer   = "x-accel-buffering"
	CheckEncoding      = "content-encoding"
	CheckHTTPVersion   = "http version"
	CheckUpstreamProto = "proxy to herald"
	CheckDelay         = "event delay"
	CheckResumeHeader  = "resume (Last-Event-ID)"
	CheckResumeQuery   = "resume (lastEventID=)"
	CheckIdle          = "quiet stream"
	CheckDuration      = "long stream"
)

// Result is one check's verdict with what was measured and, unless it passed, the fix.
type Result struct {
	Check  string `json:"check"`
	Status Status `json:"status"`
	// Figure is the measured value as a person reads it ("12ms", "cut after 5.0s").
	Figure string `json:"figure"`
	// Seconds is the measured time, where the check measures one.
	Seconds *float64 `json:"seconds,omitempty"`
	Detail  string   `json:"detail,omitempty"`
	Fix     string   `json:"fix,omitempty"`
}

// Report is the outcome of Run.
type Report struct {
	URL        string    `json:"url"`
	PublishURL string    `json:"publishURL"`
	Topic      string    `json:"topic"`
	Started    time.Time `json:"started"`
	Elapsed    float64   `json:"elapsedSeconds"`
	Results    []Result  `json:"results"`
}

// Failed reports whether any check failed.
func (r *Report) Failed() bool { return r.Count(Fail) > 0 }

// Count returns how many checks ended with status s.
func (r *Report) Count(s Status) int {
	n := 0
	for _, res := range r.Results {
		if res.Status == s {
			n++
		}
	}
	return n
}

// Result returns the result of the named check, and whether it ran.
func (r *Report) Result(check string) (Result, bool) {
	for _, res := range r.Results {
		if res.Check == check {
			return res, true
		}
	}
	return Result{}, false
}

func (r *Report) add(res Result) { r.Results = append(r.Results, res) }

// checkOrder is the order of the report's rows.
var checkOrder = []string{CheckResponse, CheckFirstByte, CheckFirstComment, CheckContentType,
	CheckCacheControl, CheckAccelBuffer, CheckEncoding, CheckHTTPVersion, CheckUpstreamProto,
	CheckDelay, CheckResumeHeader, CheckResumeQuery, CheckIdle, CheckDuration}

// sort puts the results in checkOrder (checks run in another order: headers are read after
// the delay check, in case a buffer held the head).
func (r *Report) sort() {
	slices.SortStableFunc(r.Results, func(a, b Result) int {
		return slices.Index(checkOrder, a.Check) - slices.Index(checkOrder, b.Check)
	})
}

// plural returns "1 event", "2 events".
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// WriteJSON writes the report as one indented JSON document.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(r); err != nil {
		return fmt.Errorf("probe: write JSON report: %w", err)
	}
	return nil
}

// WriteTable writes the report as an aligned table, each fix on the line below its check,
// and a summary line.
func (r *Report) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "herald probe %s (topic %s, publish %s)\n\n", r.URL, r.Topic, r.PublishURL)
	fmt.Fprintln(tw, "CHECK\tRESULT\tMEASURED\tDETAIL")
	lastFix := ""
	for _, res := range r.Results {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", res.Check, strings.ToUpper(string(res.Status)), res.Figure, res.Detail)
		if res.Fix != "" && res.Status != Pass {
			if res.Fix == lastFix {
				fmt.Fprint(tw, "\t\t\tfix: as above\n")
			} else {
				fmt.Fprintf(tw, "\t\t\tfix: %s\n", res.Fix)
			}
			lastFix = res.Fix
		}
	}
	fmt.Fprintf(tw, "\n%d passed, %d warnings, %d failed in %.1fs\n", r.Count(Pass), r.Count(Warn), r.Count(Fail), r.Elapsed)
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("probe: write report: %w", err)
	}
	return nil
}

// seconds returns d in seconds, for Result.Seconds.
func seconds(d time.Duration) *float64 {
	s := d.Seconds()
	return &s
}

// ms formats a short duration the way the table shows it.
func ms(d time.Duration) string {
	switch {
	case d < 10*time.Millisecond:
		return fmt.Sprintf("%.1fms", float64(d)/float64(time.Millisecond))
	case d < time.Second:
		return fmt.Sprintf("%dms", d.Milliseconds())
	default:
		return fmt.Sprintf("%.1fs", d.Seconds())
	}
}
