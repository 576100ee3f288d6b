package sim

import (
	"errors"
	"io"
	"net"
	"strconv"
	"syscall"
	"testing"
)

// A host that goes offline while its port lingers in TIME_WAIT (it closed a
// connection first) keeps the port anyway: connections are refused, nothing
// else can bind there, and it comes back on it.
func TestOfflineHostKeepsItsPortThroughTimeWait(t *testing.T) {
	t.Parallel()
	l, err := newHostListener("127.0.0.1:0", true, 0, Times{})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = l.Close() }()
	// Server closes first: the server side of the port goes to TIME_WAIT.
	client, err := net.Dial("tcp", l.addr)
	if err != nil {
		t.Fatal(err)
	}
	server, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	_ = server.Close()
	if _, err := client.Read(make([]byte, 1)); !errors.Is(err, io.EOF) {
		t.Fatalf("client read: %v, want EOF", err)
	}
	_ = client.Close()

	if err := l.goOffline(); err != nil {
		t.Fatal(err)
	}
	if other, err := net.Listen("tcp", l.addr); err == nil {
		_ = other.Close()
		t.Fatal("another listener took the offline host's port")
	}
	// The accept loop runs as the host's server would; it ends when the
	// listener closes.
	accepted := make(chan net.Conn, 1)
	go func() {
		defer close(accepted)
		if c, err := l.Accept(); err == nil {
			accepted <- c
		}
	}()
	checkRefusedAndKept(t, l)
	if err := l.goOnline(); err != nil {
		t.Fatal(err)
	}
	// Back online, the same port accepts connections again.
	c, err := net.Dial("tcp", l.addr)
	if err != nil {
		t.Fatal(err)
	}
	if got := <-accepted; got == nil {
		t.Fatal("the host did not accept after coming back")
	} else {
		_ = got.Close()
	}
	_ = c.Close()
}

// A refused host's port is bound but never listens: it refuses, and no
// other socket can take the port.
func TestRefusedHostKeepsItsPort(t *testing.T) {
	t.Parallel()
	l, err := newHostListener("127.0.0.1:0", false, 0, Times{})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = l.Close() }()
	checkRefusedAndKept(t, l)
}

// checkRefusedAndKept checks that connections to l are refused and that
// not even a socket that would share the port under SO_REUSEADDR can bind
// it.
func checkRefusedAndKept(t *testing.T, l *hostListener) {
	t.Helper()
	if c, err := net.Dial("tcp", l.addr); err == nil {
		_ = c.Close() // the assertion has failed already
		t.Fatal("an offline host accepted a connection")
	} else if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("dial offline host: %v, want connection refused", err)
	}
	fd, err := reusableSocket(l.addr)
	if err != nil {
		t.Fatal(err)
	}
	sa := &syscall.SockaddrInet4{Port: l.Addr().(*net.TCPAddr).Port, Addr: [4]byte{127, 0, 0, 1}}
	berr := syscall.Bind(fd, sa)
	_ = syscall.Close(fd) // a test socket
	if !errors.Is(berr, syscall.EADDRINUSE) {
		t.Fatalf("binding the offline host's port: %v, want address in use", berr)
	}
}

// A host whose picked port another process's socket took between the bind
// and the first listen (both sockets shared it under SO_REUSEADDR, and the
// other then turned the option off, as a host of another fleet does after
// its bind) takes the next port instead of failing the fleet with "address
// already in use". Not parallel: it swaps the package's port range and
// sets the afterBind hook.
func TestHostTakesAnotherPortWhenItsPickedOneIsTaken(t *testing.T) {
	rival, port := -1, 0
	for range 64 {
		p := hostPorts.take()
		if p == 0 {
			t.Skip("no port range below the ephemeral ports on this machine")
		}
		fd, err := reusableSocket("127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		if err := syscall.Bind(fd, &syscall.SockaddrInet4{Port: p, Addr: [4]byte{127, 0, 0, 1}}); err != nil {
			_ = syscall.Close(fd) // in use: try the next
			continue
		}
		rival, port = fd, p
		break
	}
	if rival < 0 {
		t.Fatal("found no free port to race for")
	}
	defer func() { _ = syscall.Close(rival) }()

	saved := hostPorts
	hostPorts = &portRange{lo: port, hi: port + 64, next: port}
	var raced []string
	afterBind = func(s *portSocket) {
		raced = append(raced, s.addr)
		if len(raced) == 1 {
			// The rival's own bind is done: it stops sharing the port.
			if err := syscall.SetsockoptInt(rival, syscall.SOL_SOCKET, syscall.SO_REUSEADDR, 0); err != nil {
				t.Error(err)
			}
		}
	}
	defer func() { hostPorts, afterBind = saved, nil }()

	l, err := newHostListener("127.0.0.1:0", true, 0, Times{})
	if err != nil {
		t.Fatalf("newHostListener: %v, want the host on another port", err)
	}
	defer func() { _ = l.Close() }()
	first := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	if len(raced) < 2 || raced[0] != first || l.addr == first || l.addr != raced[len(raced)-1] {
		t.Fatalf("binds before listening %q, host on %s: want %s lost and a later port kept", raced, l.addr, first)
	}
	c, err := net.Dial("tcp", l.addr)
	if err != nil {
		t.Fatalf("dial the host on its new port: %v", err)
	}
	_ = c.Close()
}
