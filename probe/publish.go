package probe

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"
)

// publisher posts probe events to Herald's publish API.
type publisher struct {
	client *http.Client
	url    string
	token  string
}

// publish posts one event whose data is the string data and returns its id and the time
// just before the request was sent.
func (p *publisher) publish(ctx context.Context, topic, data string) (string, time.Time, error) {
	body, err := json.Marshal(map[string]string{"topic": topic, "event": "probe", "data": data})
	if err != nil {
		return "", time.Time{}, fmt.Errorf("encode publish: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.url, bytes.NewReader(body))
	if err != nil {
		return "", time.Time{}, fmt.Errorf("publish request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	if p.token != "" {
		req.Header.Set("Authorization", "Bearer "+p.token)
	}
	sent := time.Now()
	resp, err := p.client.Do(req)
	if err != nil {
		return "", sent, fmt.Errorf("publish to %s: %w", p.url, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return "", sent, fmt.Errorf("publish to %s: read answer: %w", p.url, err)
	}
	if resp.StatusCode/100 != 2 {
		return "", sent, &StatusError{URL: p.url, Status: resp.StatusCode, Body: string(bytes.TrimSpace(raw))}
	}
	var ans struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(raw, &ans); err != nil || ans.ID == "" {
		return "", sent, fmt.Errorf("publish to %s: unexpected answer %.200q", p.url, raw)
	}
	return ans.ID, sent, nil
}
