package ssm

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func TestTransferKeysAndS3URLs(t *testing.T) {
	t.Parallel()
	sum := strings.Repeat("0f", 32)
	for prefix, want := range map[string]string{"": sum, "staged": "staged/" + sum, "staged/": "staged/" + sum, "a/b/": "a/b/" + sum} {
		if got := transferKey(prefix, sum); got != want {
			t.Errorf("transferKey(%q) = %q, want %q", prefix, got, want)
		}
	}
	tests := []struct {
		url, bucket, key string
		ok               bool
		err              string
	}{
		{"s3://fleet-repo/agents/agent.msi", "fleet-repo", "agents/agent.msi", true, ""},
		{"S3://fleet-repo/a", "fleet-repo", "a", true, ""},
		{"https://repo.example/a", "", "", false, ""},
		{"s3://fleet-repo/", "", "", true, `"s3://fleet-repo/" names no bucket and key (s3://bucket/key)`},
	}
	for _, tc := range tests {
		b, k, ok, err := parseS3URL(tc.url)
		if b != tc.bucket || k != tc.key || ok != tc.ok || errString(err) != tc.err {
			t.Errorf("parseS3URL(%q) = %q, %q, %v, %v", tc.url, b, k, ok, err)
		}
	}
}

func TestPresignedURLsAreSharedWhileTheyLastLongEnough(t *testing.T) {
	t.Parallel()
	c := s3.New(s3.Options{Region: "us-east-1", BaseEndpoint: aws.String("http://127.0.0.1:9"), UsePathStyle: true,
		Credentials: credentials.NewStaticCredentialsProvider("AKIDSIMULATED", "simulated", "")})
	x := newTransfers(c, func(func(*Stats)) {})
	ctx := t.Context()
	get := func(need time.Duration) string {
		t.Helper()
		u, err := x.presign(ctx, "fleet-transfer", "staged/k", need)
		if err != nil {
			t.Fatal(err)
		}
		return u
	}
	first := get(30 * time.Minute)
	if !strings.Contains(first, "X-Amz-Expires=5400") {
		t.Errorf("a URL needed for 30m lives 1h30m: %s", first)
	}
	if again := get(80 * time.Minute); again != first {
		t.Errorf("a URL that still lasts long enough was not reused:\n%s\n%s", first, again)
	}
	longer := get(2 * time.Hour)
	if longer == first || !strings.Contains(longer, "X-Amz-Expires=10800") {
		t.Errorf("a URL needed for longer than the cached one lasts: %s", longer)
	}
	if week := get(30 * 24 * time.Hour); !strings.Contains(week, "X-Amz-Expires=604800") {
		t.Errorf("a URL is presigned for at most a week: %s", week)
	}
}

// stallFirstPut holds the first PutObject until its request's context
// ends, and says when it began.
type stallFirstPut struct {
	next    http.RoundTripper
	started chan struct{}
	once    sync.Once
}

func (s *stallFirstPut) RoundTrip(r *http.Request) (*http.Response, error) {
	first := false
	if r.Method == http.MethodPut {
		s.once.Do(func() { first = true })
	}
	if !first {
		return s.next.RoundTrip(r)
	}
	close(s.started)
	<-r.Context().Done()
	return nil, r.Context().Err()
}

type memBlob struct {
	*bytes.Reader
	sum string
}

func (b memBlob) SHA256() string { return b.sum }

func TestAStagingCutShortIsTakenOverByAWaitingHost(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var puts int
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.Method {
		case http.MethodHead:
			w.WriteHeader(http.StatusNotFound)
		case http.MethodPut:
			_, _ = io.Copy(io.Discard, r.Body)
			mu.Lock()
			puts++
			mu.Unlock()
			w.WriteHeader(http.StatusOK)
		}
	}))
	t.Cleanup(srv.Close)
	stall := &stallFirstPut{next: srv.Client().Transport, started: make(chan struct{})}
	c := s3.New(s3.Options{Region: "us-east-1", BaseEndpoint: aws.String(srv.URL), UsePathStyle: true, RetryMaxAttempts: 1,
		HTTPClient: &http.Client{Transport: stall}, RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired,
		Credentials: credentials.NewStaticCredentialsProvider("AKIDSIMULATED", "simulated", "")})
	var stats Stats
	x := newTransfers(c, func(f func(*Stats)) { mu.Lock(); defer mu.Unlock(); f(&stats) })
	data := []byte("the source")
	sum := sha256.Sum256(data)
	b := memBlob{bytes.NewReader(data), hex.EncodeToString(sum[:])}

	ctxA, cancelA := context.WithCancel(t.Context())
	errA := make(chan error, 1)
	go func() { errA <- x.stage(ctxA, "fleet-transfer", "k", b) }()
	select {
	case <-stall.started:
	case <-t.Context().Done():
		t.Fatal("the first upload never started")
	}
	errB := make(chan error, 1)
	go func() { errB <- x.stage(t.Context(), "fleet-transfer", "k", b) }()
	cancelA()
	if err := <-errA; !errors.Is(err, context.Canceled) {
		t.Errorf("the host whose step was cut short: %v, want its context's error", err)
	}
	if err := <-errB; err != nil {
		t.Errorf("the waiting host: %v, want the object staged", err)
	}
	counts := func() (int, int64) {
		mu.Lock()
		defer mu.Unlock()
		return puts, stats.TransfersUploaded
	}
	if p, n := counts(); p != 1 || n != 1 {
		t.Errorf("%d uploads arrived, %d counted; want 1", p, n)
	}
	// Staged once, it is never staged again in the run.
	if err := x.stage(t.Context(), "fleet-transfer", "k", b); err != nil {
		t.Errorf("staging again: %v", err)
	}
	if p, _ := counts(); p != 1 {
		t.Errorf("staging again uploaded: %d uploads in all", p)
	}
}
