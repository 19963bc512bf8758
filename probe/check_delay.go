package probe

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Thresholds of the delay check (publish sent → event read, both through the path).
const (
	delayWarn = time.Second
	delayFail = 3 * time.Second
)

// checkDelay publishes Options.Events events on the first stream's topic, one after
// another, and measures when each arrives. An event that arrives only after its own
// timeout, together with later ones, is held by a buffer.
func (r *runner) checkDelay(ctx context.Context, rep *Report, s *stream) {
	n := r.opts.Events
	topic := r.topic("delay")
	sent := make([]time.Time, n)
	arrived := make([]time.Time, n) // zero: not arrived
	late := make([]bool, n)         // arrived after its timeout
	read := func(until time.Time, waitFor int) {
		for waitFor < 0 || arrived[waitFor].IsZero() {
			f, ok := s.next(until)
			if !ok {
				return
			}
			var j int
			if f.comment || f.name != "probe" || !strings.HasPrefix(f.data, "delay-") {
				continue
			}
			if _, err := fmt.Sscanf(f.data, "delay-%d", &j); err != nil || j < 0 || j >= n || !arrived[j].IsZero() {
				continue
			}
			arrived[j] = s.start.Add(f.at)
			late[j] = arrived[j].After(sent[j].Add(r.opts.EventTimeout))
		}
	}
	for i := range n {
		r.setPhase(fmt.Sprintf("event delay %d/%d", i+1, n))
		data := fmt.Sprintf("delay-%d", i)
		if pad := r.opts.EventBytes - len(data) - 1; pad > 0 {
			data += " " + strings.Repeat("x", pad)
		}
		_, at, err := r.pub.publish(ctx, topic, data)
		if err != nil {
			rep.add(publishFailure(err))
			return
		}
		sent[i] = at
		read(at.Add(r.opts.EventTimeout), i)
	}
	if slices.ContainsFunc(arrived, time.Time.IsZero) {
		// Give events held by a buffer one more chance to show up together.
		read(time.Now().Add(r.opts.EventTimeout), -1)
	}

	var delays []time.Duration
	missing, held := 0, 0
	for i := range n {
		switch {
		case arrived[i].IsZero():
			missing++
		case late[i]:
			held++
		default:
			delays = append(delays, arrived[i].Sub(sent[i]))
		}
	}
	res := Result{Check: CheckDelay}
	slices.Sort(delays)
	if len(delays) > 0 {
		worst := delays[len(delays)-1]
		res.Seconds = seconds(worst)
		res.Figure = fmt.Sprintf("median %s, max %s", ms(delays[len(delays)/2]), ms(worst))
		res.Status, res.Fix = Pass, ""
		switch {
		case worst >= delayFail:
			res.Status, res.Fix = Fail, bufferingFix
		case worst >= delayWarn:
			res.Status, res.Fix = Warn, bufferingFix
		}
		res.Detail = fmt.Sprintf("%d of %d events, publish → arrival through the path", len(delays), n)
	}
	if missing > 0 || held > 0 {
		res.Status, res.Fix = Fail, bufferingFix
		var parts []string
		if held > 0 {
			parts = append(parts, fmt.Sprintf("%d arrived only later, in bulk with other events (a buffer filled or flushed)", held))
		}
		if missing > 0 {
			parts = append(parts, fmt.Sprintf("%d never arrived within %s", missing, ms(2*r.opts.EventTimeout)))
		}
		if res.Figure == "" {
			res.Figure = fmt.Sprintf("0 of %d in time", n)
		}
		res.Detail = fmt.Sprintf("of %d events: %s", n, strings.Join(parts, "; "))
		if s.ended() {
			res.Detail += "; the stream ended after " + ms(s.endAt) + ": " + s.endReason()
		}
	}
	rep.add(res)
}

// publishFailure reports a publish that failed, which stops the checks that need events.
func publishFailure(err error) Result {
	res := Result{Check: CheckDelay, Status: Fail, Figure: "publish failed", Detail: err.Error()}
	var se *StatusError
	switch {
	case errors.As(err, &se) && (se.Status == 401 || se.Status == 403):
		res.Fix = "pass a publisher credential with --token (an API key or a token allowed to publish to the probe namespace)"
	case errors.As(err, &se) && se.Status == 404:
		res.Fix = "point --publish at Herald's publish endpoint (…/v1/publish)"
	default:
		res.Fix = "check --publish: the probe publishes its own events to measure the path"
	}
	return res
}
