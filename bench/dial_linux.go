//go:build linux

package bench

import "syscall"

// ipBindAddressNoPort is IP_BIND_ADDRESS_NO_PORT (Linux 4.2+): a socket bound to a source
// address gets its port at connect time, per destination, instead of reserving one at bind
// time for every destination. It lets each source address reach ~28k ports per server.
const ipBindAddressNoPort = 24

// controlNoPort sets IP_BIND_ADDRESS_NO_PORT on a socket about to be bound.
func controlNoPort(network, address string, c syscall.RawConn) error {
	var serr error
	err := c.Control(func(fd uintptr) {
		serr = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_IP, ipBindAddressNoPort, 1)
	})
	if err != nil {
		return err
	}
	return serr
}
