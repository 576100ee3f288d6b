package sim

import (
	"fmt"
	"net"
	"syscall"
)

// portHold keeps a TCP address bound without listening on it. Connections
// to the address are refused (the kernel answers them with a reset), as a
// Windows host with no WinRM listener or a host that is rebooting does —
// and, unlike a closed socket, nothing else can take the port meanwhile:
// another fleet's or test's ephemeral listener could otherwise grab it and
// answer for the "refused" host. The socket does not set SO_REUSEADDR, so
// Go's listeners (which do) cannot bind over it.
type portHold struct{ fd int }

// holdPort binds addr (an IPv4 host:port with a fixed port).
func holdPort(addr string) (*portHold, error) {
	ta, err := net.ResolveTCPAddr("tcp4", addr)
	if err != nil || ta.IP.To4() == nil {
		return nil, fmt.Errorf("hold %s: not an IPv4 address", addr)
	}
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("hold %s: %w", addr, err)
	}
	sa := &syscall.SockaddrInet4{Port: ta.Port}
	copy(sa.Addr[:], ta.IP.To4())
	if err := syscall.Bind(fd, sa); err != nil {
		_ = syscall.Close(fd) // the bind error is the one to report
		return nil, fmt.Errorf("hold %s: %w", addr, err)
	}
	return &portHold{fd: fd}, nil
}

// release frees the port.
func (p *portHold) release() error {
	if p == nil || p.fd < 0 {
		return nil
	}
	err := syscall.Close(p.fd)
	p.fd = -1
	return err
}
