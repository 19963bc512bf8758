package hub

import "net"

// Socket options of the connections the hub owns (hijacked HTTP/1.1 streams).
//
// A stream's kernel send buffer holds what was written but not yet acknowledged. Left to
// autotuning it grows to megabytes for a client that reads slowly, on top of the stream's
// queue (Options.MaxQueueBytes); Options.SendBuffer bounds it. A slow consumer's socket is
// closed abortively: a graceful close would leave everything already written in the kernel
// (FIN-WAIT-1) to trickle to a client that does not read, for minutes; a reset frees it at
// once, and the client resumes through its cursor like any other cut-off client.

// Aborter is implemented by a Stream whose connection can be reset rather than closed
// gracefully; the hub calls Abort before Interrupt when it cuts a slow consumer off.
type Aborter interface {
	Abort()
}

// boundSendBuffer applies Options.SendBuffer to nc.
func (h *Hub) boundSendBuffer(nc net.Conn) {
	if h.opts.SendBuffer <= 0 {
		return
	}
	if tc, ok := nc.(*net.TCPConn); ok {
		_ = tc.SetWriteBuffer(h.opts.SendBuffer)
	}
}

// closeSocket closes nc at the end of a stream: abortively (RST, nothing left in the kernel)
// for a client cut off for not reading, gracefully otherwise.
func closeSocket(nc net.Conn, r Reason) {
	if r == ReasonSlowConsumer {
		Abort(nc)
	}
	_ = nc.Close()
}

// Abort makes the next Close of nc reset the connection (SO_LINGER 0) instead of leaving
// unsent bytes to the kernel. It does nothing for connections that are not TCP.
func Abort(nc net.Conn) {
	if tc, ok := nc.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
}
