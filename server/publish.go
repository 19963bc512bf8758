package server

import (
	"bytes"
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

// handlePublish serves POST /v1/publish.
func (s *Server) handlePublish(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		writeError(w, http.StatusMethodNotAllowed, "method_not_allowed", "use POST to publish")
		return
	}
	// Security hook (auth.go): credentials, publish rate, body read timeout.
	pub, ok := s.admitPublish(w, r)
	if !ok {
		return
	}
	// The body must be JSON whatever Content-Type says: curl -d sends form encoding. It is
	// decoded as it is read (one buffer, not a copy of the whole body and then another).
	var pb publishBody
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, int64(s.cfg.MaxBodyBytes)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&pb); err != nil {
		writeBodyError(w, err, "invalid JSON body: "+err.Error())
		return
	}
	if _, err := dec.Token(); err != io.EOF { // only white space may follow the value
		msg := "invalid JSON body: more than one value"
		if err != nil {
			msg = "invalid JSON body after the value: " + err.Error()
		}
		writeBodyError(w, err, msg)
		return
	}
	headerSent := parseSentTime(r.Header.Get(SentTimeHeader))
	batch := pb.Events != nil
	items := pb.Events
	if batch {
		if pb.Topic != nil || pb.Event != "" || pb.Data != nil || pb.Final {
			writeError(w, http.StatusBadRequest, "invalid_json", `send either one event or {"events": [...]}, not both`)
			return
		}
		if len(items) == 0 {
			writeError(w, http.StatusBadRequest, "invalid_json", "events is empty")
			return
		}
		if len(items) > s.cfg.MaxBatch {
			writeError(w, http.StatusRequestEntityTooLarge, "too_large", fmt.Sprintf("%d events in one batch, at most %d", len(items), s.cfg.MaxBatch))
			return
		}
	} else {
		items = []publishItem{pb.publishItem}
	}
	msgs := make([]herald.Message, len(items))
	for i, it := range items {
		m, status, code, err := s.message(it, headerSent)
		if err != nil {
			if batch {
				err = fmt.Errorf("events[%d]: %w", i, err)
			}
			s.countFailure(code)
			writeError(w, status, code, err.Error())
			return
		}
		msgs[i] = m
	}
	if !s.authorizeEvents(w, r, pub, msgs, batch) { // security hook (auth.go)
		return
	}
	evs, online, err := s.publishOnline(r.Context(), msgs) // presence hook (server/presence.go)
	s.offlineFallback(evs, online)
	if s.met != nil {
		var pe *herald.PublishError
		switch {
		case err == nil:
			s.met.Published(len(evs))
		case errors.As(err, &pe):
			s.met.Published(pe.Published)
		}
	}
	if err != nil {
		status, code := errorStatus(err)
		s.countFailure(code)
		if status >= 500 {
			s.log.Warn("publish failed", "err", err, "events", len(msgs))
		}
		ae := apiError{Error: err.Error(), Code: code}
		var pe *herald.PublishError
		if batch && errors.As(err, &pe) && pe.Published > 0 {
			for i := 0; i < pe.Published && i < len(evs); i++ {
				ae.IDs = append(ae.IDs, evs[i].ID())
			}
		}
		writeJSON(w, status, ae)
		return
	}
	if !batch {
		a := publishAnswer{ID: evs[0].ID()}
		if len(online) > 0 {
			a.Online = &online[0]
		}
		writeJSON(w, http.StatusOK, a)
		return
	}
	ids := make([]string, len(evs))
	for i := range evs {
		ids[i] = evs[i].ID()
	}
	writeJSON(w, http.StatusOK, publishBatchAnswer{IDs: ids, Online: online})
}

// writeBodyError answers a publish body that could not be decoded: 413 when it is over the
// body limit, 400 bad_request when reading it failed (a timeout, a broken connection),
// 400 invalid_json with msg otherwise.
func writeBodyError(w http.ResponseWriter, err error, msg string) {
	var mbe *http.MaxBytesError
	var ne net.Error
	switch {
	case errors.As(err, &mbe):
		writeError(w, http.StatusRequestEntityTooLarge, "too_large", fmt.Sprintf("request body over %d bytes", mbe.Limit))
	case errors.As(err, &ne), errors.Is(err, os.ErrDeadlineExceeded), errors.Is(err, io.ErrClosedPipe):
		writeError(w, http.StatusBadRequest, "bad_request", "read body: "+err.Error())
	default:
		writeError(w, http.StatusBadRequest, "invalid_json", msg)
	}
}

// message validates one item into a herald.Message.
func (s *Server) message(it publishItem, headerSent int64) (herald.Message, int, string, error) {
	if it.Topic == nil {
		return herald.Message{}, http.StatusBadRequest, "invalid_topic", errors.New("topic is required")
	}
	t, err := herald.ParseTopic(*it.Topic)
	if err != nil {
		return herald.Message{}, http.StatusBadRequest, "invalid_topic", err
	}
	if t.Namespace() == ReservedNamespace {
		return herald.Message{}, http.StatusForbidden, "reserved_topic",
			fmt.Errorf("topic %q: the %q namespace is Herald's own", t, ReservedNamespace)
	}
	name, err := herald.ParseEventName(it.Event)
	if err != nil {
		return herald.Message{}, http.StatusBadRequest, "invalid_event", err
	}
	data, err := eventData(it.Data)
	if err != nil {
		return herald.Message{}, http.StatusBadRequest, "invalid_json", err
	}
	if len(data) > s.cfg.MaxMessageBytes {
		return herald.Message{}, http.StatusRequestEntityTooLarge, "too_large",
			fmt.Errorf("data is %d bytes, at most %d", len(data), s.cfg.MaxMessageBytes)
	}
	sent := headerSent
	if it.SentTime != "" {
		sent = parseSentTime(it.SentTime.String())
	}
	return herald.Message{Topic: t, Name: name, Data: data, Final: it.Final, SentTime: sent}, 0, "", nil
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
