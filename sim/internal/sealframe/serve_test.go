package sealframe

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestServeSealsTheAnswer(t *testing.T) {
	t.Parallel()
	var gotBody, gotType, gotAuth string
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		gotBody, gotType, gotAuth = string(b), r.Header.Get("Content-Type"), r.Header.Get("Authorization")
		w.Header().Set("X-Kept", "yes")
		if r.URL.Path == "/empty" {
			w.WriteHeader(http.StatusAccepted)
			return
		}
		w.WriteHeader(http.StatusInternalServerError)
		_, _ = w.Write([]byte("<answer/>"))
	})
	seal := func(b []byte) ([]byte, []byte, error) { return []byte("TOKEN"), []byte("sealed:" + string(b)), nil }

	r := httptest.NewRequest(http.MethodPost, "/wsman", nil)
	r.Header.Set("Authorization", "Kerberos xyz")
	w := httptest.NewRecorder()
	Serve(w, r, []byte("<request/>"), soap, spnego, next, seal)
	if gotBody != "<request/>" || gotType != soap || gotAuth != "" {
		t.Errorf("next saw body %q, type %q, Authorization %q", gotBody, gotType, gotAuth)
	}
	want := string(Append(nil, spnego, soap, len("<answer/>"), []byte("TOKEN"), []byte("sealed:<answer/>")))
	if w.Code != http.StatusInternalServerError || w.Body.String() != want || w.Header().Get("Content-Type") != ContentType(spnego) || w.Header().Get("X-Kept") != "yes" {
		t.Errorf("answer %d %q (type %q, X-Kept %q), want 500 %q", w.Code, w.Body.String(), w.Header().Get("Content-Type"), w.Header().Get("X-Kept"), want)
	}

	w = httptest.NewRecorder()
	Serve(w, httptest.NewRequest(http.MethodPost, "/empty", nil), nil, soap, spnego, next, seal)
	if w.Code != http.StatusAccepted || w.Body.Len() != 0 {
		t.Errorf("empty answer: %d %q, want 202 and no body", w.Code, w.Body.String())
	}

	w = httptest.NewRecorder()
	Serve(w, httptest.NewRequest(http.MethodPost, "/wsman", nil), nil, soap, spnego, next, func([]byte) ([]byte, []byte, error) { return nil, nil, errors.New("no key") })
	if w.Code != http.StatusInternalServerError || w.Body.String() != "sealing the answer: no key\n" {
		t.Errorf("failed seal: %d %q", w.Code, w.Body.String())
	}
}

// errReader fails after its first bytes, as a client going away mid-body.
type errReader struct{ sent bool }

func (e *errReader) Read(p []byte) (int, error) {
	if !e.sent {
		e.sent = true
		return copy(p, "part"), nil
	}
	return 0, errors.New("connection reset")
}

// sizedReader yields n zero bytes without holding them.
type sizedReader struct{ n int64 }

func (s *sizedReader) Read(p []byte) (int, error) {
	if s.n <= 0 {
		return 0, io.EOF
	}
	k := min(int64(len(p)), s.n)
	clear(p[:k])
	s.n -= k
	return int(k), nil
}

func TestReadBodyAnswersWhatItCannotRead(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		body   io.Reader
		ok     bool
		status int
		n      int
	}{
		{"a whole body", strings.NewReader("sealed"), true, http.StatusOK, 6},
		{"exactly the bound", &sizedReader{MaxBody}, true, http.StatusOK, MaxBody},
		{"a client gone mid-body", &errReader{}, false, http.StatusBadRequest, 0},
		{"one byte too many", &sizedReader{MaxBody + 1}, false, http.StatusRequestEntityTooLarge, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := httptest.NewRecorder()
			body, ok := ReadBody(w, httptest.NewRequest(http.MethodPost, "/wsman", tc.body))
			if ok != tc.ok || w.Code != tc.status || len(body) != tc.n {
				t.Errorf("ReadBody = %d bytes, %v, status %d; want %d, %v, %d", len(body), ok, w.Code, tc.n, tc.ok, tc.status)
			}
		})
	}
}
