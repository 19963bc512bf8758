package probe

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// checkResume checks that a reconnect carrying a cursor resumes exactly through the path:
// it publishes r-0 (its id is the cursor), then r-1 and r-2 while no stream is open, opens a
// stream with the cursor in the Last-Event-ID header (CheckResumeHeader) or the lastEventID
// query parameter (CheckResumeQuery), publishes r-3 live, and expects exactly r-1, r-2, r-3.
// Without the cursor Herald starts live: only r-3 arrives.
func (r *runner) checkResume(ctx context.Context, rep *Report, check string) {
	r.setPhase(check)
	res := Result{Check: check}
	how := "header"
	if check == CheckResumeQuery {
		how = "query"
	}
	topic := r.topic("resume-" + how)
	var cursor string
	for i := range 3 {
		id, _, err := r.pub.publish(ctx, topic, fmt.Sprintf("r-%d", i))
		if err != nil {
			res.Status, res.Figure, res.Detail = Fail, "publish failed", err.Error()
			rep.add(res)
			return
		}
		if i == 0 {
			cursor = id
		}
	}
	var s *stream
	var err error
	if how == "header" {
		s, err = openStream(ctx, r.opts.Client, r.streamURL(topic, ""), r.opts.SubscribeToken, cursor)
	} else {
		s, err = openStream(ctx, r.opts.Client, r.streamURL(topic, cursor), r.opts.SubscribeToken, "")
	}
	if err != nil {
		res.Status, res.Figure, res.Detail = Fail, "no request", err.Error()
		rep.add(res)
		return
	}
	defer s.close()
	// Herald registers the stream before it sends the head, so r-3 is live once the head is
	// here; a path that holds the head gets r-3 after a timeout, and nothing comes anyway.
	if !s.waitHead(time.Now().Add(r.opts.EventTimeout)) && s.ended() {
		res.Status, res.Figure, res.Detail = Fail, "no stream", s.endReason()
		res.Fix = "a reconnect with a cursor must reach Herald like the first request"
		rep.add(res)
		return
	}
	if _, _, err := r.pub.publish(ctx, topic, "r-3"); err != nil {
		res.Status, res.Figure, res.Detail = Fail, "publish failed", err.Error()
		rep.add(res)
		return
	}
	var got []string
	deadline := time.Now().Add(r.opts.EventTimeout)
	for {
		f, ok := s.next(deadline)
		if !ok {
			break
		}
		if f.comment {
			continue
		}
		if f.name == "reset" {
			got = append(got, "reset")
			continue
		}
		got = append(got, f.data)
		if f.data == "r-3" {
			break
		}
	}
	res.Figure = plural(len(got), "event")
	res.Detail = "got [" + strings.Join(got, " ") + "], want [r-1 r-2 r-3]"
	var fix string
	if how == "header" {
		fix = "forward the Last-Event-ID request header to Herald (nginx passes it by default; check `proxy_set_header`/`underscores_in_headers` rules, Envoy/Istio header filters, CDN header allow-lists)"
	} else {
		fix = "forward the query string unchanged (nginx: `proxy_pass http://herald;` without a URI part, or with `$request_uri`; CDN: include the query string in requests to the origin)"
	}
	switch {
	case strings.Join(got, " ") == "r-1 r-2 r-3":
		res.Status = Pass
		res.Detail = "the 2 missed events, then live"
	case len(got) == 0:
		res.Status = Warn
		res.Figure = "not measured"
		res.Detail = "no event came through in " + ms(r.opts.EventTimeout) + " (see event delay)"
		res.Fix = "fix what holds the events (event delay), then probe again"
	case strings.Join(got, " ") == "r-3":
		res.Status, res.Fix = Fail, fix
		res.Detail = "only the live event came: the cursor did not reach Herald, missed events are lost on every reconnect"
	case len(got) > 0 && got[0] == "reset":
		res.Status, res.Fix = Fail, fix
		res.Detail += ": Herald could not read the cursor it got (altered on the way)"
	default:
		res.Status, res.Fix = Fail, fix
	}
	rep.add(res)
}
