package bench

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"time"
)

// pubConn is one publish loop's keep-alive HTTP/1.1 connection (TLS to an https:// server)
// to one server, spoken to
// directly: the request goes out in one write and this goroutine reads the answer.
// net/http's client hands every request to two goroutines of its own (a wake-up each way);
// at thousands of requests per second on the cores the server uses too, that was a large
// part of the load generator's CPU. The server sees the same requests.
type pubConn struct {
	t     *target
	token string
	conn  net.Conn
	br    *bufio.Reader
	stop  func() bool // unregisters the context watch
	buf   []byte      // request being built
	body  []byte      // answer being read
	used  time.Time   // end of the last exchange
}

// maxIdle is how long a connection may sit unused before the next post dials afresh rather
// than risk a server or proxy closing it just as the request goes out (a POST is not
// retried: it may have been taken).
const maxIdle = 30 * time.Second

// pubTimeout bounds one request.
const pubTimeout = 30 * time.Second

// maxAnswer bounds the answer body kept.
const maxAnswer = 64 << 10

// post sends body and returns the answer's status and body (valid until the next post).
// After an error the connection is closed; the next post dials again. A connection is
// watched by the ctx of the post that dialled it: a loop passes the same one every time.
func (c *pubConn) post(ctx context.Context, body []byte) (int, []byte, error) {
	if err := ctx.Err(); err != nil {
		return 0, nil, err
	}
	if c.conn != nil && time.Since(c.used) > maxIdle {
		c.close()
	}
	if c.conn == nil {
		if err := c.dial(ctx); err != nil {
			return 0, nil, err
		}
	}
	status, ans, keep, err := c.roundTrip(body)
	c.used = time.Now()
	if err != nil || !keep {
		c.close()
	}
	if err != nil && ctx.Err() != nil {
		err = ctx.Err()
	}
	return status, ans, err
}

func (c *pubConn) dial(ctx context.Context) error {
	d := net.Dialer{Timeout: 10 * time.Second}
	var conn net.Conn
	var err error
	if c.t.tls != nil {
		// HTTP/1.1 over TLS: the publisher's own requests, not the streams measured.
		cfg := c.t.tls.Clone()
		cfg.NextProtos = []string{"http/1.1"}
		td := tls.Dialer{NetDialer: &d, Config: cfg}
		conn, err = td.DialContext(ctx, "tcp", c.t.addr)
	} else {
		conn, err = d.DialContext(ctx, "tcp", c.t.addr)
	}
	if err != nil {
		return fmt.Errorf("publish: %w", err)
	}
	c.conn = conn
	c.br = bufio.NewReaderSize(conn, 4<<10)
	// A cancelled run interrupts a request in flight.
	c.stop = context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	return nil
}

func (c *pubConn) close() {
	if c.conn != nil {
		c.stop()
		c.conn.Close()
		c.conn, c.br = nil, nil
	}
}

func (c *pubConn) roundTrip(body []byte) (status int, ans []byte, keep bool, err error) {
	b := append(c.buf[:0], "POST "...)
	b = append(b, c.t.path...)
	b = append(b, "/v1/publish HTTP/1.1\r\nHost: "...)
	b = append(b, c.t.host...)
	b = append(b, "\r\nContent-Type: application/json\r\nContent-Length: "...)
	b = strconv.AppendInt(b, int64(len(body)), 10)
	if c.token != "" {
		b = append(b, "\r\nAuthorization: Bearer "...)
		b = append(b, c.token...)
	}
	b = append(b, "\r\n\r\n"...)
	b = append(b, body...)
	c.buf = b
	_ = c.conn.SetDeadline(time.Now().Add(pubTimeout))
	if _, err := c.conn.Write(b); err != nil {
		return 0, nil, false, fmt.Errorf("publish: %w", err)
	}
	return c.readAnswer()
}

// readAnswer reads a response with net/http's parser (in this goroutine: the hand-offs of
// net/http's client are what pubConn avoids) and keeps at most maxAnswer bytes of its body.
// keep is false when the server closes the connection after it.
func (c *pubConn) readAnswer() (status int, ans []byte, keep bool, err error) {
	resp, err := http.ReadResponse(c.br, nil)
	if err != nil {
		return 0, nil, false, fmt.Errorf("publish: %w", err)
	}
	defer resp.Body.Close()
	c.body = c.body[:0]
	w := bytes.NewBuffer(c.body)
	if _, err := io.Copy(w, io.LimitReader(resp.Body, maxAnswer)); err != nil {
		return 0, nil, false, fmt.Errorf("publish: %w", err)
	}
	c.body = w.Bytes()
	// The rest of a long answer is read and dropped, so the connection can carry the next.
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return 0, nil, false, fmt.Errorf("publish: %w", err)
	}
	return resp.StatusCode, c.body, !resp.Close, nil
}
