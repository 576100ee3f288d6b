package sim

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// envelope builds a request the way clients write them.
func envelope(action, resource, shellID, body string, opTimeout string) string {
	sel := ""
	if shellID != "" {
		sel = `<w:SelectorSet><w:Selector Name="ShellId">` + shellID + `</w:Selector></w:SelectorSet>`
	}
	return `<s:Envelope xmlns:s="` + nsSOAP + `" xmlns:a="` + nsAddr + `" xmlns:w="` + nsWSMan + `" xmlns:rsp="` + nsShell + `">` +
		`<s:Header><a:To>http://x/wsman</a:To><a:Action s:mustUnderstand="true">` + action + `</a:Action>` +
		`<a:MessageID>uuid:` + newMessageID() + `</a:MessageID><w:ResourceURI>` + resource + `</w:ResourceURI>` +
		`<w:OperationTimeout>` + opTimeout + `</w:OperationTimeout>` + sel + `</s:Header><s:Body>` + body + `</s:Body></s:Envelope>`
}

// raw is a minimal WS-Man client for poking at one host.
type raw struct {
	t      *testing.T
	f      *Fleet
	h      *Host
	client *http.Client
}

func newRaw(t *testing.T, f *Fleet, h *Host) *raw {
	return &raw{t: t, f: f, h: h, client: &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}}
}

func (r *raw) do(ctx context.Context, body string) (int, *node, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.h.URL(), strings.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	req.SetBasicAuth(r.f.User(), r.f.Password())
	req.Header.Set("Content-Type", soapContentType)
	resp, err := r.client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer func() { _ = resp.Body.Close() }()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, nil, err
	}
	if !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/soap+xml") {
		return resp.StatusCode, nil, fmt.Errorf("content type %q, body %q", resp.Header.Get("Content-Type"), data)
	}
	n, err := parseTree(string(data))
	return resp.StatusCode, n, err
}

func (r *raw) mustDo(body string) *node {
	r.t.Helper()
	_, n, err := r.do(context.Background(), body)
	if err != nil {
		r.t.Fatal(err)
	}
	return n
}

func (r *raw) create() string {
	r.t.Helper()
	n := r.mustDo(envelope(ActionCreate, ResourceShellCmd, "", `<rsp:Shell><rsp:InputStreams>stdin</rsp:InputStreams><rsp:OutputStreams>stdout stderr</rsp:OutputStreams></rsp:Shell>`, "PT20S"))
	sel := n.find(nsWSMan, "Selector")
	if sel == nil {
		r.t.Fatalf("Create: no ShellId in %s", n)
	}
	return sel.text
}

func (r *raw) command(shellID, cmd string) *node {
	r.t.Helper()
	return r.mustDo(envelope(ActionCommand, ResourceShellCmd, shellID, `<rsp:CommandLine><rsp:Command>`+cmd+`</rsp:Command></rsp:CommandLine>`, "PT20S"))
}

func receiveBody(commandID string) string {
	return `<rsp:Receive><rsp:DesiredStream CommandId="` + commandID + `">stdout stderr</rsp:DesiredStream></rsp:Receive>`
}

// faultCode returns the WSManFault code of a response, or "".
func faultCode(n *node) string {
	if f := n.find(nsFault, "WSManFault"); f != nil {
		return f.attrs["Code"]
	}
	return ""
}

// plainFleet starts hosts that take Basic over plain HTTP; defaults are
// more settings for the defaults level, rest more top-level sections.
func plainFleet(t testing.TB, defaults, rest string, opts FleetOptions) *Fleet {
	t.Helper()
	if defaults != "" {
		defaults = ", " + defaults
	}
	opts.Scenario = mustScenario(t, "defaults: {allow_unencrypted: true"+defaults+"}\n"+rest)
	if opts.Hosts == 0 {
		opts.Hosts = 1
	}
	return startFleet(t, opts)
}

func TestRefusedHostRefusesConnections(t *testing.T) {
	t.Parallel()
	f := plainFleet(t, "", "host_settings:\n  sim-0001: {faults: {refused: true}}\n", FleetOptions{Hosts: 2})
	_, err := net.Dial("tcp", net.JoinHostPort(f.Hosts()[0].Address(), fmt.Sprint(f.Hosts()[0].Port())))
	if err == nil || !strings.Contains(err.Error(), "connection refused") {
		t.Errorf("dial refused host: %v, want connection refused", err)
	}
	if f.Hosts()[0].Online() {
		t.Error("refused host reports online")
	}
	r := newRaw(t, f, f.Hosts()[1])
	if id := r.create(); id == "" {
		t.Error("the other host does not answer")
	}
}

func TestHangingHostNeverAnswers(t *testing.T) {
	t.Parallel()
	f := plainFleet(t, "faults: {hang: 1}", "", FleetOptions{})
	r := newRaw(t, f, f.Hosts()[0])
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	_, _, err := r.do(ctx, envelope(ActionCreate, ResourceShellCmd, "", `<rsp:Shell/>`, "PT20S"))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("first connection: %v, want no answer before the deadline", err)
	}
	if id := r.create(); id == "" {
		t.Error("second connection got no shell")
	}
}

func TestFlakyHostResetsItsFirstConnections(t *testing.T) {
	t.Parallel()
	f := plainFleet(t, "faults: {flaky: 2}", "", FleetOptions{})
	r := newRaw(t, f, f.Hosts()[0])
	body := envelope(ActionCreate, ResourceShellCmd, "", `<rsp:Shell/>`, "PT20S")
	for i := range 2 {
		if _, _, err := r.do(context.Background(), body); err == nil {
			t.Errorf("attempt %d succeeded, want a reset", i+1)
		}
	}
	if _, n, err := r.do(context.Background(), body); err != nil || n.find(nsWSMan, "Selector") == nil {
		t.Errorf("third attempt: %v", err)
	}
}

func TestHTTP500Garbage(t *testing.T) {
	t.Parallel()
	f := plainFleet(t, "faults: {http500_garbage: true}", "", FleetOptions{})
	r := newRaw(t, f, f.Hosts()[0])
	status, _, err := r.do(context.Background(), envelope(ActionCreate, ResourceShellCmd, "", `<rsp:Shell/>`, "PT20S"))
	if status != http.StatusInternalServerError || err == nil || !strings.Contains(err.Error(), "text/html") {
		t.Errorf("got status %d, %v; want 500 with a non-SOAP body", status, err)
	}
}

func TestResetMidReceive(t *testing.T) {
	t.Parallel()
	f := plainFleet(t, "faults: {reset_mid_receive: 1}", "", FleetOptions{})
	r := newRaw(t, f, f.Hosts()[0])
	shell := r.create()
	cmdID := r.command(shell, "hostname").find(nsShell, "CommandId").text
	if _, _, err := r.do(context.Background(), envelope(ActionReceive, ResourceShellCmd, shell, receiveBody(cmdID), "PT20S")); err == nil {
		t.Fatal("first Receive answered, want a reset connection")
	}
	n := r.mustDo(envelope(ActionReceive, ResourceShellCmd, shell, receiveBody(cmdID), "PT20S"))
	if st := n.find(nsShell, "CommandState"); st == nil || st.attrs["State"] != stateDone {
		t.Errorf("second Receive: %s", n)
	}
}

func TestLatencyDelaysEveryOperation(t *testing.T) {
	t.Parallel()
	clock := newTestClock()
	f := plainFleet(t, "latency: 50ms", "", FleetOptions{Clock: clock})
	r := newRaw(t, f, f.Hosts()[0])
	done := make(chan string)
	go func() {
		_, n, err := r.do(context.Background(), envelope(ActionCreate, ResourceShellCmd, "", `<rsp:Shell/>`, "PT20S"))
		if err != nil {
			done <- err.Error()
			return
		}
		done <- n.find(nsWSMan, "Selector").text
	}()
	if err := clock.BlockUntilContext(context.Background(), 1); err != nil {
		t.Fatal(err)
	}
	select {
	case got := <-done:
		t.Fatalf("answered before the latency passed: %s", got)
	default:
	}
	clock.Advance(50 * time.Millisecond)
	if id := <-done; len(id) != 36 {
		t.Errorf("Create after the latency: %q", id)
	}
}

func TestIdleShellExpires(t *testing.T) {
	t.Parallel()
	clock := newTestClock()
	f := plainFleet(t, "quotas: {idle_timeout: 60s}", "", FleetOptions{Clock: clock})
	r := newRaw(t, f, f.Hosts()[0])
	shell := r.create()
	clock.Advance(59 * time.Second)
	n := r.command(shell, "hostname")
	if code := faultCode(n); code != "" {
		t.Fatalf("command within the idle timeout: fault %s", code)
	}
	// Read the command to its end before time passes: a shell whose
	// process still runs does not expire, and the process runs on its
	// own goroutine.
	cmdID := n.find(nsShell, "CommandId").text
	for i := 0; ; i++ {
		st := r.mustDo(envelope(ActionReceive, ResourceShellCmd, shell, receiveBody(cmdID), "PT20S")).find(nsShell, "CommandState")
		if st != nil && st.attrs["State"] == stateDone {
			break
		}
		if i == 10 {
			t.Fatalf("the command did not finish: %v", st)
		}
	}
	clock.Advance(61 * time.Second)
	if code := faultCode(r.command(shell, "hostname")); code != "2150858843" {
		t.Errorf("command after the idle timeout: fault %q, want 2150858843", code)
	}
	if st := f.Hosts()[0].Stats(); st.OpenShells != 0 {
		t.Errorf("open shells after expiry = %d", st.OpenShells)
	}
}

func TestMalformedRequestsGetFaults(t *testing.T) {
	t.Parallel()
	f := plainFleet(t, "", "", FleetOptions{})
	r := newRaw(t, f, f.Hosts()[0])
	shell := r.create()
	tests := []struct {
		name string
		body string
		code string
	}{
		{"text that is not XML", "this is not xml", "2150858817"},
		{"an envelope without an action", envelope("", ResourceShellCmd, "", "", "PT20S"), "2150858817"},
		{"an unknown resource", envelope(ActionGet, "http://schemas.microsoft.com/wbem/wsman/1/wmi/root/cimv2/Win32_Nope", "", "", "PT20S"), "2150858770"},
		{"an unknown action on the shell", envelope(nsShell+"/Dance", ResourceShellCmd, shell, "", "PT20S"), "2150858753"},
		{"a bad OperationTimeout", envelope(ActionCreate, ResourceShellCmd, "", "<rsp:Shell/>", "sixty"), "2150858767"},
		{"an integer IdleTimeOut", envelope(ActionCreate, ResourceShellCmd, "", "<rsp:Shell><rsp:IdleTimeOut>60</rsp:IdleTimeOut></rsp:Shell>", "PT20S"), "2150858817"},
		{"Receive without a CommandId", envelope(ActionReceive, ResourceShellCmd, shell, "<rsp:Receive><rsp:DesiredStream>stdout</rsp:DesiredStream></rsp:Receive>", "PT20S"), "87"},
		{"an unknown shell", envelope(ActionCommand, ResourceShellCmd, "00000000-0000-0000-0000-000000000000", "<rsp:CommandLine><rsp:Command>x</rsp:Command></rsp:CommandLine>", "PT20S"), "2150858843"},
	}
	for _, tt := range tests {
		status, n, err := r.do(context.Background(), tt.body)
		if err != nil {
			t.Errorf("%s: %v", tt.name, err)
			continue
		}
		if status != http.StatusInternalServerError || faultCode(n) != tt.code {
			t.Errorf("%s: HTTP %d fault %q, want 500 fault %s", tt.name, status, faultCode(n), tt.code)
		}
	}
}

func TestEnvelopeOverMaxEnvelopeSizeIs413(t *testing.T) {
	t.Parallel()
	f := plainFleet(t, "", "", FleetOptions{Profile: "2008r2"})
	r := newRaw(t, f, f.Hosts()[0])
	shell := r.create()
	big := strings.Repeat("A", 160*1024)
	status, _, _ := r.do(context.Background(), envelope(ActionSend, ResourceShellCmd, shell, `<rsp:Send><rsp:Stream Name="stdin" CommandId="X">`+big+`</rsp:Stream></rsp:Send>`, "PT20S"))
	if status != http.StatusRequestEntityTooLarge {
		t.Errorf("status %d, want 413", status)
	}
}

func TestShutdownRestartsTheHost(t *testing.T) {
	t.Parallel()
	clock := newTestClock()
	f := plainFleet(t, "reboot_duration: 2m", "", FleetOptions{Clock: clock})
	h := f.Hosts()[0]
	before := h.BootTime()
	c := mzClient(t, f, h, basicHTTP, "PT60S")
	if _, _, code := runMZ(t, c, "shutdown /r /t 0"); code != 0 {
		t.Fatalf("shutdown exited %d", code)
	}
	// The host drops off right after answering.
	if _, err := net.Dial("tcp", net.JoinHostPort(h.Address(), fmt.Sprint(h.Port()))); err == nil {
		t.Fatal("host still accepts connections after shutdown /r /t 0")
	}
	if h.Online() {
		t.Error("host reports online during its reboot")
	}
	clock.Advance(2 * time.Minute)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := h.WaitOnline(ctx); err != nil {
		t.Fatal(err)
	}
	if !h.BootTime().After(before) {
		t.Errorf("boot time %v not after %v", h.BootTime(), before)
	}
	out, _, code := runMZ(t, c, "hostname")
	if out != "sim-0001\r\n" || code != 0 {
		t.Errorf("after the reboot: %q exit %d", out, code)
	}
	if st := h.Stats(); st.Reboots != 1 {
		t.Errorf("reboots = %d, want 1", st.Reboots)
	}
}

func TestShutdownAbortCancelsAPendingRestart(t *testing.T) {
	t.Parallel()
	clock := newTestClock()
	f := plainFleet(t, "", "", FleetOptions{Clock: clock})
	h := f.Hosts()[0]
	c := mzClient(t, f, h, basicHTTP, "PT60S")
	if _, _, code := runMZ(t, c, "shutdown /r /t 60"); code != 0 {
		t.Fatalf("shutdown /r exited %d", code)
	}
	if _, errOut, code := runMZ(t, c, "shutdown /r /t 60"); code != 1190 || !strings.Contains(errOut, "already been scheduled") {
		t.Errorf("second shutdown: exit %d %q", code, errOut)
	}
	if _, _, code := runMZ(t, c, "shutdown /a"); code != 0 {
		t.Fatalf("shutdown /a exited %d", code)
	}
	clock.Advance(2 * time.Minute)
	if !h.Online() || h.Stats().Reboots != 0 {
		t.Error("the aborted restart happened")
	}
	if _, _, code := runMZ(t, c, "shutdown /a"); code != 1116 {
		t.Errorf("shutdown /a with nothing pending exited %d, want 1116", code)
	}
}

func TestWMIAndConfigGet(t *testing.T) {
	t.Parallel()
	f := plainFleet(t, "", "", FleetOptions{Profile: "2008r2"})
	r := newRaw(t, f, f.Hosts()[0])
	n := r.mustDo(envelope(ActionGet, ResourceWin32OS, "", "", "PT20S"))
	got := map[string]string{}
	for _, name := range []string{"Caption", "Version", "OSArchitecture", "CSName"} {
		if e := n.find(ResourceWin32OS, name); e != nil {
			got[name] = e.text
		}
	}
	want := map[string]string{"Caption": "Microsoft Windows Server 2008 R2 Datacenter", "Version": "6.1.7601", "OSArchitecture": "64-bit", "CSName": "SIM-0001"}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
	if boot := n.find(nsCIM, "Datetime"); boot == nil || !strings.HasSuffix(boot.text, "Z") {
		t.Errorf("LastBootUpTime: %v", boot)
	}
	winrs := r.mustDo(envelope(ActionGet, ResourceWinrs, "", "", "PT20S"))
	if e := winrs.find(ResourceWinrs, "MaxMemoryPerShellMB"); e == nil || e.text != "150" {
		t.Errorf("winrs MaxMemoryPerShellMB: %v", e)
	}
	cfg := r.mustDo(envelope(ActionGet, ResourceConfig, "", "", "PT20S"))
	if e := cfg.find(nsConfig, "MaxEnvelopeSizekb"); e == nil || e.text != "150" {
		t.Errorf("config MaxEnvelopeSizekb: %v", e)
	}
	if e := cfg.find(nsConfig, "MaxConcurrentOperationsPerUser"); e == nil || e.text != "15" {
		t.Errorf("config MaxConcurrentOperationsPerUser: %v", e)
	}
}

func TestUnauthenticatedRequestsGet401WithTheOfferedSchemes(t *testing.T) {
	t.Parallel()
	sc := mustScenario(t, "host_settings:\n  sim-0002: {allow_unencrypted: true}\n  sim-0003: {auth: [basic], https: true}\n")
	f := startFleet(t, FleetOptions{Hosts: 3, Scenario: sc, Dir: t.TempDir()})
	tests := []struct {
		host *Host
		want []string
	}{
		{f.Hosts()[0], []string{"Negotiate"}},
		{f.Hosts()[1], []string{"Negotiate", `Basic realm="WSMAN"`}},
		{f.Hosts()[2], []string{`Basic realm="WSMAN"`}},
	}
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: caPool(t, f.CAFile())}}
	for _, tt := range tests {
		resp, err := client.Post(tt.host.URL(), soapContentType, strings.NewReader(envelope(ActionCreate, ResourceShellCmd, "", "<rsp:Shell/>", "PT20S")))
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		got := resp.Header.Values("WWW-Authenticate")
		if resp.StatusCode != http.StatusUnauthorized || !cmp.Equal(got, tt.want) {
			t.Errorf("%s: %d %q, want 401 %q", tt.host.Name(), resp.StatusCode, got, tt.want)
		}
		if s := resp.Header.Get("Server"); s != "Microsoft-HTTPAPI/2.0" {
			t.Errorf("%s: Server %q", tt.host.Name(), s)
		}
	}
}

func caPool(t *testing.T, file string) *tls.Config {
	t.Helper()
	pem, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		t.Fatal("no certificate in the CA file")
	}
	return &tls.Config{RootCAs: pool}
}
