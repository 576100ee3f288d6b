package sim

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
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
		if p, ok := bindBelowEphemeral(addr, sa); ok {
			return p, nil
		}
	}
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

// hostPorts hands out the ports a fleet's hosts take when the listen
// address says port 0: ports below the kernel's ephemeral range, the range
// outgoing connections take their source ports from (and bind(0) its
// ports). A host on an ephemeral port would keep that port from every
// client's connections for the fleet's life: 10,000 hosts took 35% of
// Linux's default range (32768-60999), the controller's connections and
// every other program's then competed for the rest, and bind(0) slowed to
// tens of seconds for a fleet while the range was crowded with TIME_WAIT
// sockets. Below the range a bind of a free port is one lookup.
var hostPorts = newPortRange("/proc/sys/net/ipv4/ip_local_port_range")

// The ports hostPorts hands out are from firstHostPort up to the
// ephemeral range: above the ports services commonly listen on.
const firstHostPort = 16384

// portRange is a cursor over [lo, hi) starting at a random port, so two
// fleets started together rarely try the same ports.
type portRange struct {
	mu     sync.Mutex
	lo, hi int
	next   int
	// full is set once a whole cycle found no free port: later hosts go to
	// the kernel at once instead of trying every port again.
	full bool
}

// newPortRange reads the ephemeral range from file (Linux's
// ip_local_port_range: "low high"); without it, or with no room below it,
// the range is empty and hosts get ports from the kernel as before.
func newPortRange(file string) *portRange {
	r := &portRange{}
	data, err := os.ReadFile(file)
	if err != nil {
		return r
	}
	f := strings.Fields(string(data))
	if len(f) != 2 {
		return r
	}
	low, err := strconv.Atoi(f[0])
	if err != nil || low-firstHostPort < 1024 {
		return r
	}
	r.lo, r.hi = firstHostPort, low
	r.next = r.lo + rand.IntN(r.hi-r.lo)
	return r
}

// take returns the next port of the range, wrapping around; 0 when the
// range is empty.
func (r *portRange) take() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.hi <= r.lo || r.full {
		return 0
	}
	p := r.next
	r.next++
	if r.next >= r.hi {
		r.next = r.lo
	}
	return p
}

// size is how many ports the range holds.
func (r *portRange) size() int { return r.hi - r.lo }

// setFull records that no port of the range was free.
func (r *portRange) setFull() {
	r.mu.Lock()
	r.full = true
	r.mu.Unlock()
}

// bindBelowEphemeral binds a socket to the next free port of hostPorts at
// sa's address, skipping ports in use; false when none of the range's
// ports is free (the caller lets the kernel pick).
func bindBelowEphemeral(addr string, sa *syscall.SockaddrInet4) (*portSocket, bool) {
	for range hostPorts.size() {
		port := hostPorts.take()
		if port == 0 {
			return nil, false
		}
		fd, err := reusableSocket(addr)
		if err != nil {
			return nil, false
		}
		try := *sa
		try.Port = port
		if err := syscall.Bind(fd, &try); err != nil {
			_ = syscall.Close(fd) // the port is taken; try the next
			continue
		}
		// As below: not listening yet, no other bind may share the port.
		if err := syscall.SetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_REUSEADDR, 0); err != nil {
			_ = syscall.Close(fd) // let the kernel pick instead
			return nil, false
		}
		return &portSocket{addr: net.JoinHostPort(net.IP(sa.Addr[:]).String(), strconv.Itoa(port)), fd: fd}, true
	}
	hostPorts.setFull()
	return nil, false
}
