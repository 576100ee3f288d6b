package sim

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// BenchmarkHostCPUPerRequest measures the simulator's own cost of a
// request: one command's whole life (Create, Command, Receive, Signal,
// Delete) is handed to a host's HTTP handler directly, without sockets or
// a client, with Basic authentication. ns/request is the figure to read.
func BenchmarkHostCPUPerRequest(b *testing.B) {
	f := plainFleet(b, "", "", FleetOptions{})
	h := f.Hosts()[0]
	handler := h.srv.Handler
	post := func(body string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodPost, "http://"+h.Address()+"/wsman", strings.NewReader(body))
		req.SetBasicAuth(f.User(), f.Password())
		req.Header.Set("Content-Type", soapContentType)
		rec := httptest.NewRecorder()
		handler.ServeHTTP(rec, req)
		return rec
	}
	createBody := envelope(ActionCreate, ResourceShellCmd, "", `<rsp:Shell><rsp:InputStreams>stdin</rsp:InputStreams><rsp:OutputStreams>stdout stderr</rsp:OutputStreams></rsp:Shell>`, "PT60S")
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for b.Loop() {
		n, err := parseTree(post(createBody).Body.String())
		if err != nil {
			b.Fatal(err)
		}
		shell := n.find(nsWSMan, "Selector").text
		n, err = parseTree(post(envelope(ActionCommand, ResourceShellCmd, shell, `<rsp:CommandLine><rsp:Command>hostname</rsp:Command></rsp:CommandLine>`, "PT60S")).Body.String())
		if err != nil {
			b.Fatal(err)
		}
		cmd := n.find(nsShell, "CommandId").text
		if rec := post(envelope(ActionReceive, ResourceShellCmd, shell, receiveBody(cmd), "PT60S")); !strings.Contains(rec.Body.String(), "CommandState/Done") {
			b.Fatalf("Receive: %s", rec.Body.String())
		}
		post(envelope(ActionSignal, ResourceShellCmd, shell, `<rsp:Signal CommandId="`+cmd+`"><rsp:Code>`+signalTerminate+`</rsp:Code></rsp:Signal>`, "PT60S"))
		post(envelope(ActionDelete, ResourceShellCmd, shell, "", "PT60S"))
	}
	b.ReportMetric(float64(time.Since(start).Nanoseconds())/float64(5*b.N), "ns/request")
}

// BenchmarkMasterzenCommand is the same command life over loopback with
// masterzen's client; client and server share the CPU, so this is an upper
// bound of the simulator's cost.
func BenchmarkMasterzenCommand(b *testing.B) {
	for _, mode := range allModes {
		b.Run(mode.String(), func(b *testing.B) {
			f := plainFleet(b, "", "", FleetOptions{HTTPS: mode == basicHTTPS, Dir: b.TempDir()})
			c := mzClient(b, f, f.Hosts()[0], mode, "PT60S")
			b.ReportAllocs()
			start := time.Now()
			for b.Loop() {
				runMZ(b, c, "hostname")
			}
			b.ReportMetric(float64(time.Since(start).Nanoseconds())/float64(5*b.N), "ns/request")
		})
	}
}
