//go:build !unix

package winrm

import "net"

// closedByPeer cannot peek at a socket here; a connection the server
// closed while idle fails the next request instead.
func closedByPeer(net.Conn) bool { return false }
