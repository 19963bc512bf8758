package probe

import (
	"context"
	"errors"
	"fmt"
	"mime"
	"strings"
	"time"
)

// Thresholds of the head checks.
const (
	headWarn = time.Second
	headFail = 3 * time.Second
)

// checkHead opens the first stream and reports the response, the time to its head and its
// first comment, its headers and the HTTP versions on both sides of the proxies. It returns
// the open stream for the delay check, or false when no stream could be opened.
func (r *runner) checkHead(ctx context.Context, rep *Report) (s *stream, ok bool) {
	r.setPhase("opening the stream")
	s, err := openStream(ctx, r.opts.Client, r.streamURL(r.topic("delay"), ""), r.opts.SubscribeToken, "")
	if err != nil {
		rep.add(Result{Check: CheckResponse, Status: Fail, Figure: "no request", Detail: err.Error()})
		return nil, false
	}
	if !s.waitHead(time.Now().Add(r.opts.HeadTimeout)) {
		if s.ended() {
			rep.add(r.responseFailure(s.err))
			s.close()
			return nil, false
		}
		// A buffering hop may hold the head with the body: go on, the delay check shows
		// whether anything ever comes through.
		none := "none in " + ms(r.opts.HeadTimeout)
		rep.add(Result{Check: CheckResponse, Status: Warn, Figure: "no head yet",
			Detail: "the probe goes on with the stream still waiting", Fix: bufferingFix})
		rep.add(Result{Check: CheckFirstByte, Status: Fail, Figure: none,
			Detail: "the path holds even the response head (a buffering nginx sends the head together with the body it holds)", Fix: bufferingFix})
		rep.add(Result{Check: CheckFirstComment, Status: Fail, Figure: none, Detail: "no response yet", Fix: bufferingFix})
		return s, true
	}
	rep.add(Result{Check: CheckResponse, Status: Pass, Figure: "HTTP 200", Detail: s.resp.Proto})

	ttfb := Result{Check: CheckFirstByte, Figure: ms(s.headAt), Seconds: seconds(s.headAt), Detail: "response head received"}
	ttfb.Status, ttfb.Fix = grade(s.headAt, "a proxy holds the response head: Herald sends it at once, so look for a buffering or authenticating hop")
	rep.add(ttfb)

	// Herald's first bytes are a comment; a buffering hop holds them.
	first := Result{Check: CheckFirstComment}
	deadline := time.Now().Add(r.opts.HeadTimeout)
	var got bool
	for {
		f, ok := s.next(deadline)
		if !ok {
			break
		}
		if f.comment {
			got = true
			first.Figure, first.Seconds = ms(f.at), seconds(f.at)
			first.Status, first.Fix = grade(f.at, bufferingFix)
			first.Detail = fmt.Sprintf("%q", truncate(f.data, 20))
			break
		}
	}
	if !got {
		first.Status = Fail
		first.Fix = bufferingFix
		if s.ended() {
			first.Figure = "stream ended"
			first.Detail = "ended after " + ms(s.endAt) + " before its first comment: " + s.endReason()
		} else {
			first.Figure = "none in " + ms(r.opts.HeadTimeout)
			first.Detail = "the head arrived but the body did not: a hop buffers the stream"
		}
	}
	rep.add(first)
	return s, true
}

// responseFailure reports a stream request that failed before its head.
func (r *runner) responseFailure(err error) Result {
	res := Result{Check: CheckResponse, Status: Fail, Figure: "no stream", Fix: "check the URL, DNS, TLS and that the proxy is listening"}
	if err != nil {
		res.Detail = err.Error()
	}
	var se *StatusError
	if errors.As(err, &se) {
		res.Figure = fmt.Sprintf("HTTP %d", se.Status)
		switch se.Status {
		case 401, 403:
			res.Fix = "pass a subscriber credential with --token (or --subscribe-token) that may read the " + r.opts.Namespace + ": namespace, or use --namespace"
		case 502, 503, 504:
			res.Fix = "the proxy could not reach Herald or timed out before the first byte: check the upstream address and its first-byte/response timeout"
		default:
			res.Fix = "check that the URL is Herald's events endpoint (…/v1/events) as the browser reaches it"
		}
	}
	return res
}

// bufferingFix is the advice for a stream whose bytes are held.
const bufferingFix = "turn response buffering off for the events path: nginx `proxy_buffering off;` (and no `proxy_ignore_headers X-Accel-Buffering`), " +
	"no compression or caching of text/event-stream on any hop (CDN: bypass cache for /v1/events)"

// grade turns a delay into a verdict.
func grade(d time.Duration, fix string) (Status, string) {
	switch {
	case d < headWarn:
		return Pass, ""
	case d < headFail:
		return Warn, fix
	default:
		return Fail, fix
	}
}

// headerChecks are the checks of checkHeaders, in order.
var headerChecks = []string{CheckContentType, CheckCacheControl, CheckAccelBuffer, CheckEncoding, CheckHTTPVersion, CheckUpstreamProto}

// checkHeaders reports the response headers and protocol versions of s; each is "not
// measured" when no response head came through.
func (r *runner) checkHeaders(rep *Report, s *stream) {
	if !s.hasHead() {
		for _, c := range headerChecks {
			rep.add(Result{Check: c, Status: Warn, Figure: "not measured", Detail: "no response head came through", Fix: bufferingFix})
		}
		return
	}
	h := s.resp.Header
	ct := h.Get("Content-Type")
	mt, _, _ := mime.ParseMediaType(ct)
	res := Result{Check: CheckContentType, Figure: orNone(ct), Status: Pass}
	if mt != "text/event-stream" {
		res.Status = Fail
		res.Detail = "browsers' EventSource refuses any other type"
		res.Fix = "the path rewrites Content-Type: keep Herald's text/event-stream"
	}
	rep.add(res)

	cc := h.Get("Cache-Control")
	res = Result{Check: CheckCacheControl, Figure: orNone(cc), Status: Pass}
	if !strings.Contains(strings.ToLower(cc), "no-cache") && !strings.Contains(strings.ToLower(cc), "no-store") {
		res.Status = Warn
		res.Detail = "a cache on the path may store or coalesce the stream"
		res.Fix = "keep Herald's Cache-Control: no-cache (CDN: bypass cache for the events path)"
	}
	rep.add(res)

	xab := h.Get("X-Accel-Buffering")
	res = Result{Check: CheckAccelBuffer, Figure: orNone(xab), Status: Pass}
	switch strings.ToLower(xab) {
	case "no":
	case "":
		res.Detail = "absent: nginx consumes it (harmless when events arrive at once)"
	default:
		res.Status = Warn
		res.Detail = "a hop asks nginx to buffer"
		res.Fix = "remove the header rewrite; Herald sends X-Accel-Buffering: no"
	}
	rep.add(res)

	res = Result{Check: CheckEncoding, Figure: orNone(s.compress), Status: Pass}
	if s.compress != "" {
		res.Status = Warn
		res.Detail = "a hop compresses the stream: compressors hold small frames until their buffer fills or flushes"
		res.Fix = "exclude text/event-stream from compression: nginx `gzip off;` in the events location (or drop it from gzip_types); Cloudflare: a Compression Rule that disables it for /v1/events"
	}
	rep.add(res)

	res = Result{Check: CheckHTTPVersion, Figure: s.resp.Proto, Status: Pass}
	if s.resp.ProtoMajor < 2 {
		res.Status = Warn
		res.Detail = "browsers open at most six HTTP/1.1 connections per origin: the seventh stream or tab hangs"
		res.Fix = "serve the events endpoint over HTTPS with HTTP/2 (nginx `listen 443 ssl; http2 on;`, ALB/Cloudflare: HTTP/2 on), or put several topics on one stream"
		if r.events.Scheme == "http" {
			res.Detail += " (browsers never use HTTP/2 on http://)"
		}
	}
	rep.add(res)

	up := h.Get(RequestProtoHeader)
	res = Result{Check: CheckUpstreamProto, Figure: orNone(up), Status: Pass}
	switch {
	case up == "":
		res.Status = Warn
		res.Detail = "Herald's " + RequestProtoHeader + " answer did not come back (a hop drops unknown headers, or this is not Herald)"
	case up == "HTTP/1.0":
		res.Status = Warn
		res.Detail = "the last proxy speaks HTTP/1.0 to Herald: no chunked framing, no upstream keep-alive, a new connection for every request"
		res.Fix = "nginx: `proxy_http_version 1.1;` and `proxy_set_header Connection \"\";`"
	}
	rep.add(res)
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
