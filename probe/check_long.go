package probe

import (
	"context"
	"fmt"
	"time"
)

// idleFix and routeFix are the advice for streams cut while quiet and while busy.
const (
	idleFix = "raise the idle/read timeout of every hop above Herald's --heartbeat (15s) or lower --heartbeat below it: " +
		"nginx `proxy_read_timeout 1h;`, AWS ALB `idle_timeout.timeout_seconds`, Envoy `stream_idle_timeout`; Cloudflare cuts after 100s without bytes"
	routeFix = "disable the request/route timeout for the events path: Envoy/Istio route `timeout: 0s`, " +
		"GCP backend `timeoutSec` ≥ the stream's max lifetime, nginx `proxy_read_timeout`/`proxy_send_timeout` 1h, Herald's own --max-lifetime if set"
)

// checkIdle holds a stream on a topic nobody publishes to for Options.Idle and reports
// whether it survived on heartbeats alone.
func (r *runner) checkIdle(ctx context.Context) Result {
	res := Result{Check: CheckIdle}
	s, err := openStream(ctx, r.opts.Client, r.streamURL(r.topic("quiet"), ""), r.opts.SubscribeToken, "")
	r.startLong("quiet")
	if err != nil {
		res.Status, res.Figure, res.Detail = Fail, "no request", err.Error()
		return res
	}
	defer s.close()
	deadline := s.start.Add(r.opts.Idle)
	heartbeats, preamble := 0, true
	var last time.Duration
	for {
		f, ok := s.next(deadline)
		if !ok {
			break
		}
		if preamble && f.comment {
			preamble = false // Herald's opening comment
			continue
		}
		heartbeats++
		last = f.at
	}
	if s.ended() {
		detail := fmt.Sprintf("the quiet stream ended after %s with %s", ms(s.endAt), plural(heartbeats, "heartbeat"))
		if heartbeats > 0 {
			detail += ", the last at " + ms(last)
		}
		return s.cut(res, idleFix, detail)
	}
	res.Figure = fmt.Sprintf("open after %s, %s", ms(r.opts.Idle), plural(heartbeats, "heartbeat"))
	res.Seconds = seconds(r.opts.Idle)
	if heartbeats == 0 {
		res.Status = Warn
		res.Detail = "no heartbeat came through: Herald's --heartbeat is longer than --idle, or a hop holds the bytes"
		res.Fix = "keep Herald's --heartbeat below every idle timeout on the path and below --idle"
		return res
	}
	res.Status = Pass
	res.Detail = fmt.Sprintf("survived %s without events; last heartbeat at %s", ms(r.opts.Idle), ms(last))
	return res
}

// checkDuration holds a stream that receives an event every Options.Tick for
// Options.Duration and reports whether something ended it early.
func (r *runner) checkDuration(ctx context.Context) Result {
	res := Result{Check: CheckDuration}
	topic := r.topic("long")
	s, err := openStream(ctx, r.opts.Client, r.streamURL(topic, ""), r.opts.SubscribeToken, "")
	r.startLong("long")
	if err != nil {
		res.Status, res.Figure, res.Detail = Fail, "no request", err.Error()
		return res
	}
	defer s.close()
	deadline := s.start.Add(r.opts.Duration)
	sent, got := 0, 0
	var pubErr error
	nextTick := time.Now()
	for time.Now().Before(deadline) && !s.ended() && ctx.Err() == nil {
		if !time.Now().Before(nextTick) {
			if _, _, err := r.pub.publish(ctx, topic, fmt.Sprintf("t-%d", sent)); err != nil {
				pubErr = err
			} else {
				sent++
			}
			nextTick = nextTick.Add(r.opts.Tick)
		}
		until := nextTick
		if deadline.Before(until) {
			until = deadline
		}
		for {
			f, ok := s.next(until)
			if !ok {
				break
			}
			if !f.comment && f.name == "probe" {
				got++
			}
		}
	}
	if s.ended() {
		return s.cut(res, routeFix, fmt.Sprintf("the stream ended after %s while events flowed (%d of %d arrived)", ms(s.endAt), got, sent))
	}
	res.Figure = fmt.Sprintf("open after %s, %d/%d events", ms(r.opts.Duration), got, sent)
	res.Seconds = seconds(r.opts.Duration)
	switch {
	case pubErr != nil && sent == 0:
		res.Status, res.Detail = Fail, "could not publish: "+pubErr.Error()
	case got == 0:
		res.Status, res.Fix = Warn, bufferingFix
		res.Detail = "the stream stayed open but none of its events came through (see event delay)"
	default:
		res.Status = Pass
		res.Detail = fmt.Sprintf("no route or response timeout within %s", ms(r.opts.Duration))
	}
	return res
}

// cut is a long check's verdict on a stream that ended before its time: no stream at all
// when the response never began, else a failure with fix and detail (the reason it ended is
// appended).
func (s *stream) cut(res Result, fix, detail string) Result {
	if !s.hasHead() {
		res.Status, res.Figure, res.Detail = Fail, "no stream", s.endReason()
		return res
	}
	res.Status, res.Fix = Fail, fix
	res.Figure = "cut after " + ms(s.endAt)
	res.Seconds = seconds(s.endAt)
	res.Detail = detail + ": " + s.endReason()
	return res
}
