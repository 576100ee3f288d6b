// Package testneeds decides what a test does when a tool it needs from
// outside Go is missing (a browser, Wine, pywinrm, the PowerShell grammar):
// on a developer's machine it skips, saying how to install the tool; where
// the environment says the tool must be there — CI sets
// FLEETRUN_REQUIRE_<TOOL>=1 after installing it — it fails, so that a
// test meant to run never passes by skipping.
package testneeds

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"testing"
	"time"
)

// Missing ends t because a tool is missing, as err says: it fails when the
// environment variable env is 1, and skips otherwise.
func Missing(t testing.TB, env string, err error) {
	t.Helper()
	if os.Getenv(env) == "1" {
		t.Fatalf("%s=1 but: %v", env, err)
	}
	t.Skipf("skipping: %v (set %s=1 to make this a failure)", err, env)
}

// ChromiumPath is where Debian's chromium package puts the browser.
const ChromiumPath = "/usr/bin/chromium"

// Chromium returns the browser's path, or ends t (FLEETRUN_REQUIRE_CHROMIUM).
func Chromium(t testing.TB) string {
	t.Helper()
	if _, err := os.Stat(ChromiumPath); err != nil {
		Missing(t, "FLEETRUN_REQUIRE_CHROMIUM", fmt.Errorf("%s is missing (apt-get install chromium): %w", ChromiumPath, err))
	}
	return ChromiumPath
}

// Wine returns the paths of the MinGW C compiler and of wine, which build
// and run small Windows programs, or ends t (FLEETRUN_REQUIRE_WINE).
func Wine(t testing.TB) (gcc, wine string) {
	t.Helper()
	gcc, gccErr := exec.LookPath("x86_64-w64-mingw32-gcc")
	wine, wineErr := exec.LookPath("wine")
	if err := errors.Join(gccErr, wineErr); err != nil {
		Missing(t, "FLEETRUN_REQUIRE_WINE", fmt.Errorf("x86_64-w64-mingw32-gcc and wine are needed (apt-get install gcc-mingw-w64-x86-64 wine): %w", err))
	}
	return gcc, wine
}

// MITKerberos holds the paths of Debian's MIT Kerberos programs a test KDC
// needs (krb5-kdc, krb5-admin-server, krb5-user).
type MITKerberos struct {
	KDC, KDBUtil, KadminLocal, Kinit string
}

// KDC returns the MIT Kerberos programs that run a test KDC, or ends t
// (FLEETRUN_REQUIRE_KDC).
func KDC(t testing.TB) MITKerberos {
	t.Helper()
	k, err := FindMITKerberos()
	if err != nil {
		Missing(t, "FLEETRUN_REQUIRE_KDC", err)
	}
	return k
}

// FindMITKerberos returns the MIT Kerberos programs that run a test KDC,
// or an error naming the packages that provide them.
func FindMITKerberos() (MITKerberos, error) {
	k := MITKerberos{
		KDC:         "/usr/sbin/krb5kdc",
		KDBUtil:     "/usr/sbin/kdb5_util",
		KadminLocal: "/usr/sbin/kadmin.local",
		Kinit:       "/usr/bin/kinit",
	}
	var errs []error
	for _, p := range []string{k.KDC, k.KDBUtil, k.KadminLocal, k.Kinit} {
		if _, err := os.Stat(p); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return k, fmt.Errorf("MIT Kerberos is missing (apt-get install krb5-kdc krb5-admin-server krb5-user): %w", err)
	}
	return k, nil
}

// DebianPython is Debian's own interpreter, which python3-winrm installs
// into (the python3 first on PATH may be another one).
const DebianPython = "/usr/bin/python3"

// Pywinrm returns DebianPython once it imports every module given (winrm
// and, say, requests_kerberos), run with env added to its environment, or
// ends t (FLEETRUN_REQUIRE_PYWINRM); install says which packages bring
// them. A probe may end in an expression that fails, such as
// hashlib.new('md4') without OpenSSL's legacy provider.
func Pywinrm(t testing.TB, env []string, install, probe string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, DebianPython, "-c", probe)
	cmd.Env = append(os.Environ(), env...)
	if out, err := cmd.CombinedOutput(); err != nil {
		Missing(t, "FLEETRUN_REQUIRE_PYWINRM", fmt.Errorf("%s -c %q failed (apt-get install %s): %w: %s", DebianPython, probe, install, err, out))
	}
	return DebianPython
}
