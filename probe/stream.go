package probe

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/heraldpush/herald/sse"
)

// ProbeHeader asks Herald to answer a stream request with RequestProtoHeader: the HTTP
// version of the request as it reached Herald, that is, as the last proxy sent it.
const (
	ProbeHeader        = "Herald-Probe"
	RequestProtoHeader = "Herald-Request-Proto"
)

// frame is one thing read from a stream: a comment or a dispatched event, with the time
// since the request started.
type frame struct {
	at      time.Duration
	comment bool
	name    string
	id      string
	data    string
}

// stream is one SSE request through the path; a goroutine sends it, waits for the head
// and reads the body into frames.
type stream struct {
	start  time.Time
	head   chan struct{} // closed when the response head arrived (resp is set)
	resp   *http.Response
	headAt time.Duration // response head received (valid after head)
	frames chan frame
	done   chan struct{} // closed when the request ended, before or after the head
	endAt  time.Duration // when it ended (valid after done)
	err    error         // why it ended; nil for a clean end of stream (valid after done)
	cancel context.CancelFunc

	compress string // Content-Encoding of the body (valid after head)
}

// StatusError is a stream or publish request answered with another status than expected.
type StatusError struct {
	URL    string
	Status int
	Body   string
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("%s answered %d: %s", e.URL, e.Status, e.Body)
}

// openStream starts requesting u (the events URL with its query) and reading the stream;
// lastEventID, when not empty, goes into the Last-Event-ID header. It returns at once: a
// proxy may hold even the response head (waitHead). The stream is read until close is
// called or it ends.
func openStream(ctx context.Context, client *http.Client, u *url.URL, token, lastEventID string) (*stream, error) {
	ctx, cancel := context.WithCancel(ctx)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		cancel()
		return nil, fmt.Errorf("stream request: %w", err)
	}
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("Cache-Control", "no-cache")
	// Ask for compression as browsers do, and undo it here: a compressing hop must show.
	req.Header.Set("Accept-Encoding", "gzip")
	req.Header.Set(ProbeHeader, "1")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if lastEventID != "" {
		req.Header.Set("Last-Event-ID", lastEventID)
	}
	s := &stream{start: time.Now(), head: make(chan struct{}), frames: make(chan frame, 4096),
		done: make(chan struct{}), cancel: cancel}
	go s.run(ctx, client, req, redact(u))
	return s, nil
}

// run sends the request and reads the response into frames.
func (s *stream) run(ctx context.Context, client *http.Client, req *http.Request, where string) {
	defer func() {
		s.endAt = time.Since(s.start)
		close(s.done)
	}()
	resp, err := client.Do(req)
	if err != nil {
		var ue *url.Error // it names the URL with its query, maybe a token
		if errors.As(err, &ue) {
			err = ue.Err
		}
		s.err = fmt.Errorf("open stream %s: %w", where, err)
		return
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		s.err = &StatusError{URL: where, Status: resp.StatusCode, Body: string(bytes.TrimSpace(body))}
		return
	}
	s.headAt = time.Since(s.start)
	s.resp = resp
	s.compress = resp.Header.Get("Content-Encoding")
	close(s.head)
	s.read(ctx, resp.Body)
}

// waitHead waits until the response head arrived (true), the request ended without one,
// or deadline passed (false).
func (s *stream) waitHead(deadline time.Time) bool {
	t := time.NewTimer(time.Until(deadline))
	defer t.Stop()
	select {
	case <-s.head:
		return true
	case <-s.done:
		select {
		case <-s.head:
			return true
		default:
			return false
		}
	case <-t.C:
		return false
	}
}

// hasHead reports whether the response head arrived.
func (s *stream) hasHead() bool {
	select {
	case <-s.head:
		return true
	default:
		return false
	}
}

// read parses the body into frames until it ends or ctx is done.
func (s *stream) read(ctx context.Context, raw io.Reader) {
	var body io.Reader = raw
	switch s.compress {
	case "":
	case "gzip", "x-gzip":
		zr, err := gzip.NewReader(raw)
		if err != nil {
			if ctx.Err() == nil {
				s.err = fmt.Errorf("gzip body: %w", err)
			}
			return
		}
		body = zr
	default:
		s.err = fmt.Errorf("body compressed with %q, which the probe cannot read", s.compress)
		return
	}
	send := func(f frame) {
		select {
		case s.frames <- f:
		case <-ctx.Done():
		}
	}
	r := sse.NewReader(body)
	r.OnComment(func(text []byte) {
		send(frame{at: time.Since(s.start), comment: true, data: string(text)})
	})
	for {
		ev, err := r.Next()
		if err != nil {
			if !errors.Is(err, io.EOF) && ctx.Err() == nil {
				s.err = err
			}
			return
		}
		send(frame{at: time.Since(s.start), name: ev.Name, id: ev.ID, data: string(ev.Data)})
	}
}

// next returns the next frame, or false when the stream ended or deadline passed.
func (s *stream) next(deadline time.Time) (frame, bool) {
	t := time.NewTimer(time.Until(deadline))
	defer t.Stop()
	select {
	case f := <-s.frames:
		return f, true
	default:
	}
	select {
	case f := <-s.frames:
		return f, true
	case <-s.done:
		// Frames sent before the end are still queued.
		select {
		case f := <-s.frames:
			return f, true
		default:
			return frame{}, false
		}
	case <-t.C:
		return frame{}, false
	}
}

// ended reports whether reading has ended.
func (s *stream) ended() bool {
	select {
	case <-s.done:
		return true
	default:
		return false
	}
}

// close ends the request and waits for the reader.
func (s *stream) close() {
	s.cancel()
	<-s.done
}

// endReason describes how a stream ended, for the report.
func (s *stream) endReason() string {
	if s.err != nil {
		return "connection error: " + s.err.Error()
	}
	return "the response ended"
}
