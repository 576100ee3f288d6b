package sim

import (
	"errors"
	"io"
	"net"
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
