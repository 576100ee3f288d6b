package downloadtest

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net/http"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// get fetches url with a client trusting pool and returns the status and
// body (what arrived before an error).
func get(t *testing.T, pool *Server, url string) (int, []byte, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool.CertPool(), MinVersion: tls.VersionTLS12}, DisableKeepAlives: true}
	defer tr.CloseIdleConnections()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, body, err
}

func TestServer(t *testing.T) {
	t.Parallel()
	for _, tls := range []bool{false, true} {
		data := []byte("0123456789abcdefghij")
		s := NewHTTP(map[string][]byte{"/f": data})
		if tls {
			s.Close()
			s = NewHTTPS(map[string][]byte{"/f": data})
		}
		s.Fail503(1)
		if status, _, err := get(t, s, s.URL("/f")); err != nil || status != http.StatusServiceUnavailable {
			t.Errorf("tls %v: first request: %d %v, want 503", tls, status, err)
		}
		if status, body, err := get(t, s, s.URL("/f")); err != nil || status != http.StatusOK || string(body) != string(data) {
			t.Errorf("tls %v: second request: %d %q %v", tls, status, body, err)
		}
		s.DropMidBody(1, 5)
		status, body, err := get(t, s, s.URL("/f"))
		if status != http.StatusOK || string(body) != "01234" || err == nil || errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("tls %v: dropped request: %d %q %v", tls, status, body, err)
		}
		if status, _, err := get(t, s, s.URL("/nothing")); err != nil || status != http.StatusNotFound {
			t.Errorf("tls %v: missing file: %d %v", tls, status, err)
		}
		st := s.Stats()
		want := Stats{Requests: 4, Failed503: 1, Dropped: 1, NotFound: 1, Bytes: 25, Complete: 1, ByPath: map[string]int64{"/f": 3, "/nothing": 1}}
		if st.Requests != want.Requests || st.Failed503 != want.Failed503 || st.Dropped != want.Dropped || st.NotFound != want.NotFound ||
			st.Bytes != want.Bytes || st.Complete != want.Complete || st.ByPath["/f"] != 3 || st.ByPath["/nothing"] != 1 {
			t.Errorf("tls %v: stats %+v, want %+v", tls, st, want)
		}
		s.Close()
	}
}
