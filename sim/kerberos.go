package sim

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"

	"github.com/jcmturner/gokrb5/v8/keytab"

	"github.com/fleetrun/fleetrun/sim/internal/krbsrv"
	"github.com/fleetrun/fleetrun/sim/internal/ntlmsrv"
)

// keytabOf returns the keytab file of host in dir, or "" when dir is
// empty or holds none for the host.
func keytabOf(dir, host string) string {
	if dir == "" {
		return ""
	}
	p := filepath.Join(dir, host+".keytab")
	if _, err := os.Stat(p); err != nil {
		return ""
	}
	return p
}

// maxKeytab bounds the keytab file a host reads.
const maxKeytab = 1 << 20

// kerberosFront puts Kerberos in front of the host's NTLM and Basic
// handler when the host has a keytab; otherwise it returns auth as is.
func (h *Host) kerberosFront(auth, wsman http.Handler) (http.Handler, error) {
	if h.cfg.Keytab == "" {
		return auth, nil
	}
	f, err := os.Open(h.cfg.Keytab)
	if err != nil {
		return nil, fmt.Errorf("kerberos keytab: %w", err)
	}
	// Closing a file only read reports nothing worth acting on.
	defer func() { _ = f.Close() }()
	b, err := io.ReadAll(io.LimitReader(f, maxKeytab+1))
	if err != nil {
		return nil, fmt.Errorf("kerberos keytab %s: %w", h.cfg.Keytab, err)
	}
	if len(b) > maxKeytab {
		return nil, fmt.Errorf("kerberos keytab %s is larger than %d bytes", h.cfg.Keytab, maxKeytab)
	}
	kt := keytab.New()
	if err := kt.Unmarshal(b); err != nil {
		return nil, fmt.Errorf("kerberos keytab %s: %w", h.cfg.Keytab, err)
	}
	return krbsrv.Handler(krbsrv.Policy{
		Keytab:           kt,
		AllowUnencrypted: h.cfg.AllowUnencrypted,
		OnAuthFailure:    h.authFailed,
		Now:              h.clock.Now,
	}, wsman, auth), nil
}

// authConnContext installs both authentication packages' per-connection
// state.
func authConnContext(ctx context.Context, c net.Conn) context.Context {
	return krbsrv.ConnContext(ntlmsrv.ConnContext(ctx, c), c)
}

// authUser returns the account a request was authenticated as: the
// Kerberos principal (user@REALM) or the NTLM/Basic account name.
func authUser(ctx context.Context) string {
	if u := krbsrv.User(ctx); u != "" {
		return u
	}
	return ntlmsrv.User(ctx)
}
