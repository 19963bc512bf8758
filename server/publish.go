package server

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/heraldpush/herald"
	"github.com/heraldpush/herald/auth"
	"github.com/heraldpush/herald/internal/httpjson"
	"github.com/heraldpush/herald/webhook"
)

// SentTimeHeader carries the publisher's send time (Unix time in milliseconds, microseconds
// or nanoseconds — told apart by magnitude), feeding the publish→delivery latency metric.
const SentTimeHeader = "X-Herald-Sent-Time"

// publishItem is one event of a publish request.
type publishItem struct {
	Topic *string         `json:"topic"`
	Event string          `json:"event"`
	Data  json.RawMessage `json:"data"`
	Final bool            `json:"final"`
	// SentTime is the publisher's send time per event, as SentTimeHeader.
	SentTime json.Number `json:"sent_time"`
}

type publishBody struct {
	publishItem
	Events []publishItem `json:"events"`
}

type publishAnswer struct {
	ID string `json:"id"`
	// Online says whether a subscriber anywhere in the cluster got the event (presence.go).
	Online *bool `json:"online,omitempty"`
}

type publishBatchAnswer struct {
	IDs []string `json:"ids"`
	// Online holds, per event, whether a subscriber got it (presence.go).
	Online []bool `json:"online,omitempty"`
}

// The publish pipeline. Every event that enters Herald on this node takes the same walk,
// whoever publishes it (origin): decode (HTTP only) → validate → authorize → engine →
// online and offline fallback → metrics → answer (HTTP only). So the reserved namespace, the
// size limits, the metrics and the offline webhook apply the same way to the HTTP API, the
// demo pages' API, the presence tracker's join/leave events and the dashboard's stats feed.

// origin says who publishes a set of messages, and so which steps of the pipeline apply.
type origin struct {
	kind originKind
	// r and id (originAPI): the request and its publisher, authorized per topic.
	r  *http.Request
	id auth.Identity
	// batch: the messages came as {"events": [...]}; errors name the event (events[i]).
	batch bool
}

// originKind is a kind of publisher.
type originKind uint8

const (
	// originAPI is POST /v1/publish: each topic is authorized for the request's credential.
	originAPI originKind = iota
	// originDemo is the demo pages' API (web/): admitted by GuardPublish, like the API.
	originDemo
	// originPresence is the presence tracker's join and leave events.
	originPresence
	// originStats is the dashboard's stats feed, the only publisher of the reserved namespace.
	originStats
)

// notice reports whether o publishes Herald's own notices (presence, stats) rather than a
// client's events: those are not worth an offline webhook and need no online answer.
func (o origin) notice() bool { return o.kind == originPresence || o.kind == originStats }

// publishError is a refusal of the pipeline before the engine, with the answer's status and
// code. With denied, err is an auth error answered by Server.denied (its status and
// WWW-Authenticate header).
type publishError struct {
	status int
	code   string
	denied bool
	err    error
}

func (e *publishError) Error() string { return e.err.Error() }
func (e *publishError) Unwrap() error { return e.err }

// handlePublish serves POST /v1/publish: admission, decoding, then the pipeline.
func (s *Server) handlePublish(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		writeError(w, http.StatusMethodNotAllowed, "method_not_allowed", "use POST to publish")
		return
	}
	// Credentials, publish rate, body read timeout (admission.go).
	pub, ok := s.admitPublish(w, r)
	if !ok {
		return
	}
	msgs, batch, err := s.decodePublish(w, r)
	if err != nil {
		s.answerPublishError(w, r, err, nil, batch)
		return
	}
	evs, online, err := s.publish(r.Context(), msgs, origin{kind: originAPI, r: r, id: pub, batch: batch})
	if err != nil {
		s.answerPublishError(w, r, err, evs, batch)
		return
	}
	if !batch {
		writePublishAnswer(w, &evs[0], online)
		return
	}
	ids := make([]string, len(evs))
	for i := range evs {
		ids[i] = evs[i].ID()
	}
	writeJSON(w, http.StatusOK, publishBatchAnswer{IDs: ids, Online: online})
}

// writePublishAnswer answers a single-event publish with its publishAnswer, the commonest
// answer Herald gives: written by hand, byte for byte what writeJSON writes, when the id
// needs no JSON escaping (it never does for the engines' epochs), by writeJSON otherwise.
func writePublishAnswer(w http.ResponseWriter, ev *herald.Event, online []bool) {
	a := publishAnswer{}
	if len(online) > 0 {
		a.Online = &online[0]
	}
	if !plainJSON(ev.Epoch) {
		a.ID = ev.ID()
		writeJSON(w, http.StatusOK, a)
		return
	}
	b := make([]byte, 0, 48+len(ev.Epoch))
	b = append(b, `{"id":"`...)
	b = herald.AppendPosition(b, ev.Position)
	b = append(b, '"')
	if a.Online != nil {
		b = append(b, `,"online":`...)
		b = strconv.AppendBool(b, *a.Online)
	}
	b = append(b, "}\n"...)
	httpjson.SetHeaders(w.Header())
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(b)
}

// plainJSON reports whether s is written as itself inside a JSON string by encoding/json:
// printable ASCII without '"', '\\', '<', '>' or '&' (which it escapes).
func plainJSON(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			return false
		}
	}
	return true
}

// decodePublish reads a publish body into messages. The body must be JSON whatever
// Content-Type says: curl -d sends form encoding. It is decoded as it is read (one buffer,
// not a copy of the whole body and then another).
func (s *Server) decodePublish(w http.ResponseWriter, r *http.Request) (msgs []herald.Message, batch bool, err error) {
	var pb publishBody
	body := io.Reader(http.MaxBytesReader(w, r.Body, int64(s.cfg.MaxBodyBytes)))
	fast := false
	if n := s.fastBodyLen(r); n >= 0 {
		// A small body of known length is read whole, and a single event in the plain
		// shape decoded by hand (publish_fast.go); the Decoder gets the rest, and a read
		// error after the bytes read before it.
		bp, b, rerr := readBody(body, n)
		if rerr == nil {
			pb.publishItem, fast = decodeSingle(b)
		}
		if !fast {
			body = io.MultiReader(bytes.NewReader(bytes.Clone(b)), errReader{cmp.Or(rerr, io.EOF)})
		}
		bodyBufs.Put(bp)
	}
	if !fast {
		if pb, err = decodeBody(body); err != nil {
			return nil, false, err
		}
	}
	headerSent := parseSentTime(r.Header.Get(SentTimeHeader))
	batch = pb.Events != nil
	items := pb.Events
	if batch {
		if pb.Topic != nil || pb.Event != "" || pb.Data != nil || pb.Final {
			return nil, batch, &publishError{status: http.StatusBadRequest, code: "invalid_json",
				err: errors.New(`send either one event or {"events": [...]}, not both`)}
		}
		if len(items) == 0 {
			return nil, batch, &publishError{status: http.StatusBadRequest, code: "invalid_json", err: errors.New("events is empty")}
		}
		if len(items) > s.cfg.MaxBatch {
			return nil, batch, &publishError{status: http.StatusRequestEntityTooLarge, code: "too_large",
				err: fmt.Errorf("%d events in one batch, at most %d", len(items), s.cfg.MaxBatch)}
		}
	} else {
		// One event: decoded in place, without a one-item slice.
		m, err := decodeItem(pb.publishItem, headerSent)
		if err != nil {
			s.countFailure(err.code)
			return nil, batch, err
		}
		return []herald.Message{m}, batch, nil
	}
	msgs = make([]herald.Message, len(items))
	for i, it := range items {
		m, err := decodeItem(it, headerSent)
		if err != nil {
			if batch {
				err.err = fmt.Errorf("events[%d]: %w", i, err.err)
			}
			s.countFailure(err.code)
			return nil, batch, err
		}
		msgs[i] = m
	}
	return msgs, batch, nil
}

// decodeBody decodes a publish body with encoding/json: one JSON value, no unknown field.
func decodeBody(body io.Reader) (publishBody, error) {
	var pb publishBody
	dec := json.NewDecoder(body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&pb); err != nil {
		return pb, bodyError(err, "invalid JSON body: "+err.Error())
	}
	if _, err := dec.Token(); err != io.EOF { // only white space may follow the value
		msg := "invalid JSON body: more than one value"
		if err != nil {
			msg = "invalid JSON body after the value: " + err.Error()
		}
		return pb, bodyError(err, msg)
	}
	return pb, nil
}

// publish is the pipeline's core: validate, authorize, publish through the engine (with the
// online answer), the offline fallback and the metrics. On a partial batch failure evs holds
// the events that were published.
func (s *Server) publish(ctx context.Context, msgs []herald.Message, o origin) (evs []herald.Event, online []bool, err error) {
	if err := s.validate(msgs, o); err != nil {
		s.countFailure(err.code)
		return nil, nil, err
	}
	if err := s.authorize(msgs, o); err != nil {
		s.countFailure(err.code)
		return nil, nil, err
	}
	if o.notice() {
		evs, err = s.engine.Publish(ctx, msgs)
	} else {
		evs, online, err = s.publishOnline(ctx, msgs)
		s.offlineFallback(evs, online)
	}
	if err == nil {
		s.countPublished(len(evs))
		return evs, online, nil
	}
	s.countPublishError(err)
	return evs, online, err
}

// countPublishError counts a failed engine publish, and the events of a batch it published
// before failing. (Apart from publish, so that the happy path allocates no error target.)
func (s *Server) countPublishError(err error) {
	var pe *herald.PublishError
	if errors.As(err, &pe) {
		s.countPublished(pe.Published)
	}
	_, code := errorStatus(err)
	s.countFailure(code)
}

// Publish publishes msgs through the pipeline on behalf of the demo pages' API (web/), which
// mounts behind GuardPublish: the reserved namespace, the size limits, the metrics and the
// offline webhook apply as they do to POST /v1/publish.
func (s *Server) Publish(ctx context.Context, msgs []herald.Message) ([]herald.Event, error) {
	evs, _, err := s.publish(ctx, msgs, origin{kind: originDemo})
	return evs, err
}

// validate checks what no publisher may do: write into Herald's own namespace (but its
// stats feed) or send data over MaxMessageBytes.
func (s *Server) validate(msgs []herald.Message, o origin) *publishError {
	for i := range msgs {
		m := &msgs[i]
		var pe *publishError
		switch {
		case m.Topic.Namespace() == ReservedNamespace && o.kind != originStats:
			pe = &publishError{status: http.StatusForbidden, code: "reserved_topic",
				err: fmt.Errorf("topic %q: the %q namespace is Herald's own", m.Topic, ReservedNamespace)}
		case len(m.Data) > s.cfg.MaxMessageBytes:
			pe = &publishError{status: http.StatusRequestEntityTooLarge, code: "too_large",
				err: fmt.Errorf("data is %d bytes, at most %d", len(m.Data), s.cfg.MaxMessageBytes)}
		default:
			continue
		}
		if o.batch {
			pe.err = fmt.Errorf("events[%d]: %w", i, pe.err)
		}
		return pe
	}
	return nil
}

// authorize checks each event's topic against the API publisher's credential (403
// otherwise). Other origins were admitted before they got here.
func (s *Server) authorize(msgs []herald.Message, o origin) *publishError {
	if o.kind != originAPI {
		return nil
	}
	for i := range msgs {
		if d := s.sec.auth.AuthorizePublish(o.r, o.id, msgs[i].Topic); !d.Allowed {
			err := d.Err()
			if o.batch {
				err = fmt.Errorf("events[%d]: %w", i, err)
			}
			return &publishError{code: auth.ErrorCode(err), denied: true, err: err}
		}
	}
	return nil
}

// publishOnline publishes msgs and says, per returned event, whether anyone in the cluster
// was subscribed; online is nil when the engine cannot tell.
func (s *Server) publishOnline(ctx context.Context, msgs []herald.Message) ([]herald.Event, []bool, error) {
	if op, ok := s.engine.(herald.OnlinePublisher); ok {
		return op.PublishOnline(ctx, msgs)
	}
	evs, err := s.engine.Publish(ctx, msgs)
	if s.pres.tracker == nil {
		return evs, nil, err
	}
	online := make([]bool, len(evs))
	for i := range evs {
		if i > 0 && evs[i].Topic == evs[i-1].Topic {
			online[i] = online[i-1]
			continue
		}
		on, perr := s.pres.tracker.Online(ctx, evs[i].Topic)
		if perr != nil {
			// Unknown counts as offline: a fallback sent twice beats one lost.
			s.log.Warn("presence read for publish", "topic", evs[i].Topic, "err", perr)
		}
		online[i] = on
	}
	return evs, online, err
}

// offlineFallback queues a webhook for every published event that nobody received, in a
// namespace with an offline_webhook.
func (s *Server) offlineFallback(evs []herald.Event, online []bool) {
	if s.pres.webhooks == nil || online == nil {
		return
	}
	for i := range evs {
		if i >= len(online) || online[i] {
			continue
		}
		ev := &evs[i]
		ns := s.cfg.Namespaces[ev.Topic.Namespace()]
		if ns.OfflineWebhook == nil {
			continue
		}
		p := webhook.Payload{
			Topic: string(ev.Topic), ID: ev.ID(), Event: string(ev.Name),
			Data: webhook.DataValue(ev.Data), PublishedAt: time.Unix(0, ev.Time).UTC(),
		}
		if ev.Time == 0 {
			p.PublishedAt = time.Now().UTC()
		}
		if ns.Personal {
			_, p.User, _ = strings.Cut(string(ev.Topic), ":")
		}
		s.pres.webhooks.Enqueue(*ns.OfflineWebhook, p)
	}
}

// answerPublishError answers a failed publish: a refusal with its status and code, an engine
// error by errorStatus, with the ids a batch published before the error.
func (s *Server) answerPublishError(w http.ResponseWriter, r *http.Request, err error, evs []herald.Event, batch bool) {
	var pe *publishError
	if errors.As(err, &pe) {
		if pe.denied {
			s.denied(w, r, pe.err)
			return
		}
		writeError(w, pe.status, pe.code, pe.err.Error())
		return
	}
	status, code := errorStatus(err)
	if status >= 500 {
		s.log.Warn("publish failed", "err", err, "events", len(evs))
	}
	ae := apiError{Error: err.Error(), Code: code}
	var partial *herald.PublishError
	if batch && errors.As(err, &partial) && partial.Published > 0 {
		for i := 0; i < partial.Published && i < len(evs); i++ {
			ae.IDs = append(ae.IDs, evs[i].ID())
		}
	}
	writeJSON(w, status, ae)
}

// bodyError classifies a publish body that could not be decoded: 413 when it is over the
// body limit, 400 bad_request when reading it failed (a timeout, a broken connection),
// 400 invalid_json with msg otherwise.
func bodyError(err error, msg string) *publishError {
	var mbe *http.MaxBytesError
	var ne net.Error
	switch {
	case errors.As(err, &mbe):
		return &publishError{status: http.StatusRequestEntityTooLarge, code: "too_large", err: fmt.Errorf("request body over %d bytes", mbe.Limit)}
	case errors.As(err, &ne), errors.Is(err, os.ErrDeadlineExceeded), errors.Is(err, io.ErrClosedPipe):
		return &publishError{status: http.StatusBadRequest, code: "bad_request", err: fmt.Errorf("read body: %w", err)}
	default:
		return &publishError{status: http.StatusBadRequest, code: "invalid_json", err: errors.New(msg)}
	}
}

// decodeItem parses one item into a herald.Message (topic, event name, data, send time);
// the pipeline's validate step checks the rest.
func decodeItem(it publishItem, headerSent int64) (herald.Message, *publishError) {
	if it.Topic == nil {
		return herald.Message{}, &publishError{status: http.StatusBadRequest, code: "invalid_topic", err: errors.New("topic is required")}
	}
	t, err := herald.ParseTopic(*it.Topic)
	if err != nil {
		return herald.Message{}, &publishError{status: http.StatusBadRequest, code: "invalid_topic", err: err}
	}
	name, err := herald.ParseEventName(it.Event)
	if err != nil {
		return herald.Message{}, &publishError{status: http.StatusBadRequest, code: "invalid_event", err: err}
	}
	data, err := eventData(it.Data)
	if err != nil {
		return herald.Message{}, &publishError{status: http.StatusBadRequest, code: "invalid_json", err: err}
	}
	sent := headerSent
	if it.SentTime != "" {
		sent = parseSentTime(it.SentTime.String())
	}
	return herald.Message{Topic: t, Name: name, Data: data, Final: it.Final, SentTime: sent}, nil
}

// eventData turns the JSON data value into the event's text: a JSON string is sent as its
// text, anything else as compact JSON, and a missing value as empty data. raw is the
// decoder's own copy of a value it has validated, so data without white space is returned
// as it is: only data that may need compacting is compacted (copied and checked again).
func eventData(raw json.RawMessage) ([]byte, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return []byte{}, nil
	}
	if raw[0] != '"' && bytes.IndexAny(raw, " \t\r\n") < 0 {
		return raw, nil
	}
	if raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, fmt.Errorf("data: %w", err)
		}
		return []byte(s), nil
	}
	var b bytes.Buffer
	if err := json.Compact(&b, raw); err != nil {
		return nil, fmt.Errorf("data: %w", err)
	}
	return b.Bytes(), nil
}

// parseSentTime reads a Unix time in ms, µs or ns (by magnitude); 0 when absent or invalid.
func parseSentTime(s string) int64 {
	if s == "" {
		return 0
	}
	v, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil || v <= 0 {
		return 0
	}
	switch {
	case v > 1e17:
		return v
	case v > 1e14:
		return v * int64(time.Microsecond)
	default:
		return v * int64(time.Millisecond)
	}
}

func (s *Server) countFailure(code string) {
	if s.met != nil {
		s.met.PublishFailed(code)
	}
}

func (s *Server) countPublished(n int) {
	if s.met != nil {
		s.met.Published(n)
	}
}
