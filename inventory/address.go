package inventory

import (
	"errors"
	"net/netip"
	"strconv"
	"strings"
)

// splitAddress checks an inventory address — a host name, an IPv4 address
// or an IPv6 literal (bare or in brackets), optionally followed by :PORT —
// and returns the host part and the port (0 when none is given). Errors
// never repeat the address: an operator may have pasted credentials into
// it (user:password@host), and errors end up in terminals and CI logs.
func splitAddress(addr string) (host string, port int, err error) {
	switch {
	case strings.Contains(addr, "@"):
		return "", 0, errors.New("contains @: credentials do not belong in an address; use user with password_env or password_file")
	case strings.Contains(addr, "/"):
		return "", 0, errors.New("contains /: give the host name or IP address alone, not a URL or path (the port goes in port:)")
	case strings.ContainsAny(addr, " \t\r\n"):
		return "", 0, errors.New("contains white space")
	}
	host, portText, err := cutPort(addr)
	if err != nil {
		return "", 0, err
	}
	if portText != "" {
		p, perr := strconv.Atoi(portText)
		if perr != nil || p < 1 || p > 65535 {
			return "", 0, errors.New("has a port that is not a number in [1, 65535]")
		}
		port = p
	}
	if _, perr := netip.ParseAddr(host); perr == nil {
		return host, port, nil
	}
	if !validHostName(host) {
		return "", 0, errors.New("is not a host name, an IPv4 address or an IPv6 literal (optionally followed by :PORT)")
	}
	return host, port, nil
}

// cutPort separates an optional :PORT from the host part. A bare IPv6
// literal (two colons or more, no brackets) has no port.
func cutPort(addr string) (host, port string, err error) {
	if rest, ok := strings.CutPrefix(addr, "["); ok {
		inside, after, found := strings.Cut(rest, "]")
		if !found {
			return "", "", errors.New("has [ without ]")
		}
		ip, perr := netip.ParseAddr(inside)
		if perr != nil || !ip.Is6() {
			return "", "", errors.New("has brackets around something that is not an IPv6 address")
		}
		if after == "" {
			return inside, "", nil
		}
		port, ok := strings.CutPrefix(after, ":")
		if !ok {
			return "", "", errors.New("has text after ] that is not :PORT")
		}
		return inside, port, nil
	}
	if strings.Count(addr, ":") > 1 {
		return addr, "", nil
	}
	host, port, _ = strings.Cut(addr, ":")
	return host, port, nil
}

// validHostName reports whether s is a DNS host name: dot-separated labels
// of letters, digits, hyphens and underscores (Windows NetBIOS-style names
// have them), none starting or ending with a hyphen.
func validHostName(s string) bool {
	s = strings.TrimSuffix(s, ".")
	if s == "" || len(s) > 253 {
		return false
	}
	for _, label := range strings.Split(s, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		if strings.IndexFunc(label, notHostNameRune) >= 0 {
			return false
		}
	}
	return true
}

// notHostNameRune reports a character that has no place in a host name.
func notHostNameRune(c rune) bool {
	return (c < 'a' || c > 'z') && (c < 'A' || c > 'Z') && (c < '0' || c > '9') && c != '-' && c != '_'
}
