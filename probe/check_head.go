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
func (r *runner) checkHead(ctx context.Context, rep *Report) (*stream, bool) {
	r.setPhase("opening the stream")
	s, err := openStream(ctx, r.opts.Client, r.streamURL(r.topic("delay"), ""), r.opts.SubscribeToken, "")
	if err != nil {
		res := Result{Check: CheckResponse, Status: Fail, Figure: "no stream", Detail: err.Error()}
		var se *StatusError
		switch {
		case errors.As(err, &se) && (se.Status == 401 || se.Status == 403):
			res.Figure = fmt.Sprintf("HTTP %d", se.Status)
			res.Fix = "pass a subscriber credential with --token (or --subscribe-token) that may read the " + r.opts.Namespace + ": namespace, or use --namespace"
		case errors.As(err, &se) && (se.Status == 502 || se.Status == 503 || se.Status == 504):
			res.Figure = fmt.Sprintf("HTTP %d", se.Status)
			res.Fix = "the proxy could not reach Herald or timed out before the first byte: check the upstream address and its first-byte/response timeout"
		case errors.As(err, &se):
			res.Figure = fmt.Sprintf("HTTP %d", se.Status)
			res.Fix = "check that the URL is Herald's events endpoint (…/v1/events) as the browser reaches it"
		default:
			res.Fix = "check the URL, DNS, TLS and that the proxy is listening"
		}
		rep.add(res)
		return nil, false
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
	r.checkHeaders(rep, s)
	return s, true
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

// checkHeaders reports the response headers and protocol versions of s.
func (r *runner) checkHeaders(rep *Report, s *stream) {
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
