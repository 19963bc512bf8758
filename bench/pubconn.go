package bench

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"time"
)

// pubConn is one publish loop's keep-alive HTTP/1.1 connection to one server, spoken to
// directly: the request goes out in one write and this goroutine reads the answer. net/http's
// client hands every request to two goroutines of its own (a wake-up each way) and allocates
// per request; at thousands of requests per second on the cores the server uses too, that
// was most of the load generator's CPU. The server sees the same requests.
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
	conn, err := d.DialContext(ctx, "tcp", c.t.addr)
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

// readAnswer reads a response: the status line, the headers it needs (Content-Length,
// Transfer-Encoding: chunked, Connection: close) and the body.
func (c *pubConn) readAnswer() (status int, ans []byte, keep bool, err error) {
	line, err := c.line()
	if err != nil {
		return 0, nil, false, err
	}
	// "HTTP/1.1 200 OK"
	_, rest, ok := bytes.Cut(line, []byte(" "))
	if !ok || len(rest) < 3 {
		return 0, nil, false, fmt.Errorf("publish: bad status line %q", line)
	}
	if status, err = strconv.Atoi(string(rest[:3])); err != nil {
		return 0, nil, false, fmt.Errorf("publish: bad status line %q", line)
	}
	length, chunked, keep := -1, false, true
	for {
		h, err := c.line()
		if err != nil {
			return 0, nil, false, err
		}
		if len(h) == 0 {
			break
		}
		name, val, _ := bytes.Cut(h, []byte(":"))
		val = bytes.TrimSpace(val)
		switch {
		case bytes.EqualFold(name, []byte("Content-Length")):
			if length, err = strconv.Atoi(string(val)); err != nil || length < 0 {
				return 0, nil, false, fmt.Errorf("publish: bad Content-Length %q", val)
			}
		case bytes.EqualFold(name, []byte("Transfer-Encoding")):
			chunked = bytes.EqualFold(val, []byte("chunked"))
		case bytes.EqualFold(name, []byte("Connection")):
			keep = !bytes.EqualFold(val, []byte("close"))
		}
	}
	c.body = c.body[:0]
	switch {
	case chunked:
		for {
			sz, err := c.line()
			if err != nil {
				return 0, nil, false, err
			}
			sz, _, _ = bytes.Cut(sz, []byte(";"))
			n, err := strconv.ParseUint(string(bytes.TrimSpace(sz)), 16, 31)
			if err != nil {
				return 0, nil, false, fmt.Errorf("publish: bad chunk size %q", sz)
			}
			if n == 0 {
				for { // trailers, then the blank line
					if t, err := c.line(); err != nil || len(t) == 0 {
						return status, c.body, keep, err
					}
				}
			}
			if err := c.readBody(int(n)); err != nil {
				return 0, nil, false, err
			}
			if crlf, err := c.line(); err != nil || len(crlf) != 0 {
				return 0, nil, false, errors.Join(err, errors.New("publish: bad chunk end"))
			}
		}
	case length >= 0:
		if err := c.readBody(length); err != nil {
			return 0, nil, false, err
		}
	default: // no length: the body ends with the connection
		if err := c.readBody(-1); err != nil {
			return 0, nil, false, err
		}
		keep = false
	}
	return status, c.body, keep, nil
}

// line reads one header line without its CRLF.
func (c *pubConn) line() ([]byte, error) {
	l, err := c.br.ReadSlice('\n')
	if err != nil {
		if errors.Is(err, bufio.ErrBufferFull) {
			err = errors.New("publish: answer header line too long")
		}
		return nil, fmt.Errorf("publish: %w", err)
	}
	return bytes.TrimRight(l, "\r\n"), nil
}

// readBody reads n bytes of body (n < 0: to EOF), keeping at most maxAnswer of them.
func (c *pubConn) readBody(n int) error {
	var r io.Reader = c.br
	if n >= 0 {
		r = io.LimitReader(c.br, int64(n))
	}
	for {
		if len(c.body) == cap(c.body) {
			c.body = append(c.body, 0)[:len(c.body)]
		}
		if len(c.body) >= maxAnswer {
			_, err := io.Copy(io.Discard, r)
			return err
		}
		k, err := r.Read(c.body[len(c.body):min(cap(c.body), maxAnswer)])
		c.body = c.body[:len(c.body)+k]
		if err == io.EOF {
			if n >= 0 && len(c.body) < n && len(c.body) < maxAnswer {
				return fmt.Errorf("publish: %w", io.ErrUnexpectedEOF)
			}
			return nil
		}
		if err != nil {
			return fmt.Errorf("publish: %w", err)
		}
	}
}
