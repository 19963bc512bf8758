package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"
)

// maxPublishAnswer bounds how much of a publish answer is read.
const maxPublishAnswer = 4 << 20

// Event is an event to publish.
type Event struct {
	// Topic is the topic to publish to, e.g. "scan:abc".
	Topic string
	// Event is the event name (the SSE "event:" line); "" sends none (a browser's
	// "message" event).
	Event string
	// Data is the event's data. A string, []byte or json.RawMessage is sent as is: a string
	// or []byte as text (subscribers receive exactly its bytes), a json.RawMessage as the
	// JSON value it holds. Anything else is encoded with encoding/json and subscribers
	// receive the compact JSON. nil sends JSON null.
	Data any
	// Final closes the topic: subscribers receive this event and their stream ends, later
	// publishes to the topic fail with a 409 Error.
	Final bool
}

// wireEvent is an Event as /v1/publish reads it.
type wireEvent struct {
	Topic string          `json:"topic"`
	Event string          `json:"event,omitempty"`
	Data  json.RawMessage `json:"data"`
	Final bool            `json:"final,omitempty"`
}

func (e *Event) wire() (wireEvent, error) {
	w := wireEvent{Topic: e.Topic, Event: e.Event, Final: e.Final}
	var err error
	switch d := e.Data.(type) {
	case json.RawMessage:
		if !json.Valid(d) {
			return w, fmt.Errorf("herald: event for topic %q: data is not valid JSON", e.Topic)
		}
		w.Data = d
	case []byte:
		w.Data, err = json.Marshal(string(d))
	default:
		w.Data, err = json.Marshal(d)
	}
	if err != nil {
		return w, fmt.Errorf("herald: event for topic %q: encode data: %w", e.Topic, err)
	}
	return w, nil
}

// Publisher publishes events to a Herald gateway over HTTP. It is safe for concurrent use.
type Publisher struct {
	url  string
	opts options
}

// NewPublisher returns a Publisher for the gateway at baseURL (e.g.
// "http://127.0.0.1:8080"). It uses the options WithHTTPClient and WithToken.
func NewPublisher(baseURL string, opts ...Option) (*Publisher, error) {
	u, err := endpoint(baseURL, "/v1/publish")
	if err != nil {
		return nil, err
	}
	return &Publisher{url: u.String(), opts: newOptions(opts)}, nil
}

// Publish publishes ev and returns the id the gateway assigned to it: the cursor a
// subscriber of ev.Topic alone can resume after. A gateway's error answer is an *Error.
func (p *Publisher) Publish(ctx context.Context, ev Event) (string, error) {
	w, err := ev.wire()
	if err != nil {
		return "", err
	}
	var answer struct {
		ID string `json:"id"`
	}
	if err := p.post(ctx, w, &answer); err != nil {
		return "", err
	}
	if answer.ID == "" {
		return "", errors.New("herald: publish answer has no id")
	}
	return answer.ID, nil
}

// PublishBatch publishes evs in order in one request and returns their ids in the same
// order. The gateway publishes a batch in order and may stop at the first failing event;
// it then answers an *Error and the events before the failing one may have been published.
func (p *Publisher) PublishBatch(ctx context.Context, evs []Event) ([]string, error) {
	if len(evs) == 0 {
		return nil, nil
	}
	batch := struct {
		Events []wireEvent `json:"events"`
	}{Events: make([]wireEvent, len(evs))}
	for i := range evs {
		w, err := evs[i].wire()
		if err != nil {
			return nil, fmt.Errorf("event %d: %w", i, err)
		}
		batch.Events[i] = w
	}
	var answer struct {
		IDs []string `json:"ids"`
	}
	if err := p.post(ctx, batch, &answer); err != nil {
		return nil, err
	}
	if len(answer.IDs) != len(evs) {
		return nil, fmt.Errorf("herald: publish answer has %d ids for %d events", len(answer.IDs), len(evs))
	}
	return answer.IDs, nil
}

// post sends body as JSON and decodes a 2xx answer into answer.
func (p *Publisher) post(ctx context.Context, body, answer any) error {
	b, err := json.Marshal(body)
	if err != nil {
		return fmt.Errorf("herald: encode publish request: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.url, bytes.NewReader(b))
	if err != nil {
		return fmt.Errorf("herald: publish: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	req.Header.Set(SentTimeHeader, strconv.FormatInt(time.Now().UnixNano(), 10))
	p.opts.authorize(req)
	resp, err := p.opts.httpClient.Do(req)
	if err != nil {
		return fmt.Errorf("herald: publish: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return readError(resp)
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxPublishAnswer)).Decode(answer); err != nil {
		return fmt.Errorf("herald: decode publish answer (status %d): %w", resp.StatusCode, err)
	}
	return nil
}
