// Package probe diagnoses the HTTP path between a browser and Herald: the proxies, load
// balancers and CDNs that buffer, compress, time out or rewrite a Server-Sent Events stream.
// It backs the `herald probe URL` command.
//
// Run opens real streams through the public URL on fresh probe topics and publishes real
// events through the publish API, then reports each check as pass, warn or fail with the
// figure it measured and the fix:
//
//   - head: time to the response head and to the stream's first comment (a proxy that holds
//     the head, or buffers the body, shows here first);
//   - delay: publish-to-arrival delay of a few events, one after another (buffering shows as
//     seconds, or as events that arrive only together with later ones);
//   - headers: Content-Type, Cache-Control, X-Accel-Buffering and Content-Encoding
//     (compression on an event stream is a warning), the HTTP version the client got and,
//     through the Herald-Request-Proto answer to the Herald-Probe header, the version the
//     last proxy spoke to Herald;
//   - resume: a reconnect with the cursor, once in the Last-Event-ID header and once in the
//     lastEventID query parameter, must return exactly the events missed meanwhile;
//   - idle: a quiet stream, fed only by the server's heartbeats, must stay open for
//     Options.Idle (longer than the usual 60 s load-balancer idle timeout);
//   - duration: a busy stream must stay open for Options.Duration (route or response
//     timeouts end streams even while bytes flow).
//
// The idle and duration streams run side by side, so a cut of the quiet stream alone is an
// idle timeout and a cut of both is a route timeout. Streams are parsed with package sse.
// Files are named after the check they run: check_head.go, check_delay.go, check_resume.go,
// check_long.go; stream.go and publish.go are the two ends of the path.
package probe
