package sealframe

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
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
