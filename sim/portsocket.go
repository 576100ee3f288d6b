package sim

import (
	"errors"
	"fmt"
	"net"
	"os"
	"syscall"
)

// portSocket is a host's one TCP socket, bound to the host's address for
// the host's whole life. Listening, it accepts connections; stopped, it
// stays bound without listening, so connections are refused (the kernel
// answers them with a reset) as they are by a Windows host with no WinRM
// listener or one that is restarting. Going from one state to the other
// never unbinds the port, so no other socket — another fleet's listener
// picking an ephemeral port, a client's ephemeral source port — can take
// it meanwhile and answer for the host.
//
// It relies on Linux semantics: the socket is bound to an explicit port
// (so stopping keeps the port), shutdown(SHUT_RD) on a listening socket
// stops it listening, and listen works again afterwards. While stopped,
// SO_REUSEADDR is off, so no other bind can share the port.
type portSocket struct {
	addr string
	fd   int              // the socket until it first listens; -1 after
	ln   *net.TCPListener // the socket once it has listened
}

// bindPort binds a new socket to addr, an IPv4 loopback host:port. Port 0
// picks a free port; the socket is still bound to it explicitly.
func bindPort(addr string) (*portSocket, error) {
	ta, err := net.ResolveTCPAddr("tcp4", addr)
	if err != nil || ta.IP.To4() == nil {
		return nil, fmt.Errorf("bind %s: not an IPv4 address", addr)
	}
	sa := &syscall.SockaddrInet4{Port: ta.Port}
	copy(sa.Addr[:], ta.IP.To4())
	if sa.Port == 0 {
		// A port picked by the kernel is not locked to the socket: a
		// stopped socket would lose it. Pick one with a first socket
		// and bind the host's socket to it explicitly before the first
		// lets it go (both share it under SO_REUSEADDR, neither
		// listening).
		picker, err := reusableSocket(addr)
		if err != nil {
			return nil, err
		}
		defer func() { _ = syscall.Close(picker) }() // only picked the port
		if err := syscall.Bind(picker, sa); err != nil {
			return nil, fmt.Errorf("bind %s: %w", addr, err)
		}
		got, err := syscall.Getsockname(picker)
		if err != nil {
			return nil, fmt.Errorf("bind %s: %w", addr, err)
		}
		sa.Port = got.(*syscall.SockaddrInet4).Port
	}
	fd, err := reusableSocket(addr)
	if err != nil {
		return nil, err
	}
	if err := syscall.Bind(fd, sa); err != nil {
		_ = syscall.Close(fd) // the bind error is the one to report
		return nil, fmt.Errorf("bind %s: %w", addr, err)
	}
	// Not listening yet: no other bind may share the port (listen turns
	// the option back on).
	if err := syscall.SetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_REUSEADDR, 0); err != nil {
		_ = syscall.Close(fd) // the option's error is the one to report
		return nil, fmt.Errorf("bind %s: %w", addr, err)
	}
	return &portSocket{addr: net.JoinHostPort(ta.IP.String(), fmt.Sprint(sa.Port)), fd: fd}, nil
}

// reusableSocket is a new TCP socket with SO_REUSEADDR, as Go's listeners
// have it: listening again must not fail on the port's own connections
// lingering in TIME_WAIT.
func reusableSocket(addr string) (int, error) {
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("bind %s: %w", addr, err)
	}
	if err := syscall.SetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_REUSEADDR, 1); err != nil {
		_ = syscall.Close(fd) // the option's error is the one to report
		return -1, fmt.Errorf("bind %s: %w", addr, err)
	}
	return fd, nil
}

// control runs f on the socket's descriptor.
func (p *portSocket) control(f func(fd int) error) error {
	if p.ln == nil {
		return f(p.fd)
	}
	rc, err := p.ln.SyscallConn()
	if err != nil {
		return err
	}
	var ferr error
	if err := rc.Control(func(fd uintptr) { ferr = f(int(fd)) }); err != nil {
		return err
	}
	return ferr
}

// listen starts (or resumes) listening and returns the listener to accept
// from: the same one every time.
func (p *portSocket) listen() (net.Listener, error) {
	err := p.control(func(fd int) error {
		if err := syscall.SetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_REUSEADDR, 1); err != nil {
			return err
		}
		return syscall.Listen(fd, syscall.SOMAXCONN)
	})
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", p.addr, err)
	}
	if p.ln == nil {
		f := os.NewFile(uintptr(p.fd), p.addr)
		ln, err := net.FileListener(f) // a duplicate of the descriptor
		cerr := f.Close()
		p.fd = -1
		if err != nil {
			return nil, fmt.Errorf("listen on %s: %w", p.addr, errors.Join(err, cerr))
		}
		p.ln = ln.(*net.TCPListener)
	}
	return p.ln, nil
}

// stop stops listening and keeps the port: connections waiting to be
// accepted are reset, new ones refused, and a pending Accept fails.
func (p *portSocket) stop() error {
	if p.ln == nil {
		return nil // never listened
	}
	err := p.control(func(fd int) error {
		if err := syscall.Shutdown(fd, syscall.SHUT_RD); err != nil {
			return err
		}
		return syscall.SetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_REUSEADDR, 0)
	})
	if err != nil {
		return fmt.Errorf("stop listening on %s: %w", p.addr, err)
	}
	return nil
}

// close releases the port for good.
func (p *portSocket) close() error {
	if p.ln != nil {
		return p.ln.Close()
	}
	if p.fd < 0 {
		return nil
	}
	err := syscall.Close(p.fd)
	p.fd = -1
	return err
}
