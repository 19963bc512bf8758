// Package herald holds the domain of the Herald push gateway: topics, events, positions and
// cursors, the errors every layer shares, and the Engine interface that the memory, Redis and
// NATS engines implement.
//
// Data flows one way: a publisher hands Messages to an Engine, which assigns each one the next
// Position in its topic, keeps it in the topic's history and carries it to every node that
// holds subscribers for the topic. On each node the hub (package hub) receives the Event through
// the Sink interface, encodes its SSE frame once and queues that frame on every subscribed
// connection. A connection's Cursor names, for each of its topics, the last position it saw, so a
// reconnect resumes every topic exactly.
//
// The core never imports a broker client: engines live in their own packages under engine/.
package herald

import "errors"

// Sentinel errors shared by engines, the hub and the HTTP layer. Wrap them with %w; the HTTP
// layer maps them to status codes and error codes.
var (
	// ErrInvalidTopic reports a topic name that breaks the topic grammar (see ParseTopic).
	ErrInvalidTopic = errors.New("invalid topic")
	// ErrInvalidEventName reports an event name containing CR, LF or NUL, or too long.
	ErrInvalidEventName = errors.New("invalid event name")
	// ErrInvalidCursor reports a cursor (Last-Event-ID) that cannot be parsed.
	ErrInvalidCursor = errors.New("invalid cursor")
	// ErrTopicClosed reports a publish to a topic whose final event was already published.
	ErrTopicClosed = errors.New("topic closed by a final event")
	// ErrEngineUnavailable reports that the engine cannot reach its backing store right now;
	// the operation did not take effect and may be retried.
	ErrEngineUnavailable = errors.New("engine unavailable")
	// ErrClosed reports use of an engine or hub after Close.
	ErrClosed = errors.New("closed")
)
