package sim

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
)

// s3Client is the SDK's S3 client pointed at the fleet's endpoint.
func s3Client(f *Fleet, region string) *s3.Client {
	return s3.New(s3.Options{Region: region, BaseEndpoint: aws.String(f.SSMEndpoint()), UsePathStyle: true,
		Credentials:                credentials.NewStaticCredentialsProvider("AKIDSIMULATED", "simulated", ""),
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired,
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenRequired,
		RetryMaxAttempts:           1,
	})
}

// pastSigner presigns as if it were some time ago.
type pastSigner struct {
	v4.Signer
	ago time.Duration
}

func (p pastSigner) PresignHTTP(ctx context.Context, c aws.Credentials, r *http.Request, payloadHash, service, region string, t time.Time, opts ...func(*v4.SignerOptions)) (string, http.Header, error) {
	return p.Signer.PresignHTTP(ctx, c, r, payloadHash, service, region, t.Add(-p.ago), opts...)
}

// httpGet fetches a URL as a downloading host does: no AWS client, the
// presigned query is all the authentication.
func httpGet(t *testing.T, u string) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close() //nolint:errcheck // read-only
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(body)
}

func TestSimulatedS3StoresServesAndPresigns(t *testing.T) {
	t.Parallel()
	f := startFleet(t, FleetOptions{Hosts: 1, SSM: true})
	c := s3Client(f, f.SSMRegion())
	ctx := t.Context()
	data := bytes.Repeat([]byte("fleetrun\x00\xff"), 100_000)
	sum := sha256.Sum256(data)

	_, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("transfer"), Key: aws.String("p/x")})
	var nf interface{ ErrorCode() string }
	if !errors.As(err, &nf) || nf.ErrorCode() != "NotFound" {
		t.Fatalf("HeadObject of a missing key: %v, want NotFound", err)
	}
	// The body is a section of a larger reader: streamed, seekable, never
	// a byte slice the SDK could take a shortcut with.
	whole := append([]byte("skip"), data...)
	if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("transfer"), Key: aws.String("p/x"),
		Body: io.NewSectionReader(bytes.NewReader(whole), 4, int64(len(data))), ContentLength: aws.Int64(int64(len(data)))}); err != nil {
		t.Fatalf("PutObject: %v", err)
	}
	head, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("transfer"), Key: aws.String("p/x")})
	if err != nil || aws.ToInt64(head.ContentLength) != int64(len(data)) {
		t.Fatalf("HeadObject: %v, length %d", err, aws.ToInt64(head.ContentLength))
	}

	ps := s3.NewPresignClient(c)
	req, err := ps.PresignGetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("transfer"), Key: aws.String("p/x")}, s3.WithPresignExpires(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	code, body := httpGet(t, req.URL)
	if got := sha256.Sum256([]byte(body)); code != http.StatusOK || hex.EncodeToString(got[:]) != hex.EncodeToString(sum[:]) {
		t.Fatalf("presigned GET: %d, %d bytes", code, len(body))
	}

	expired, err := s3.NewPresignClient(c, func(o *s3.PresignOptions) { o.Presigner = pastSigner{*v4.NewSigner(), 2 * time.Hour} }).
		PresignGetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("transfer"), Key: aws.String("p/x")}, s3.WithPresignExpires(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, url string
		code      int
		want      string
	}{
		{"an anonymous GET", f.SSMEndpoint() + "/transfer/p/x", http.StatusForbidden, "<Code>AccessDenied</Code><Message>Access Denied</Message>"},
		{"an expired URL", expired.URL, http.StatusForbidden, "<Code>AccessDenied</Code><Message>Request has expired</Message><X-Amz-Expires>3600</X-Amz-Expires>"},
		{"a week and a second", strings.Replace(req.URL, "X-Amz-Expires=3600", "X-Amz-Expires=604801", 1), http.StatusBadRequest,
			"<Code>AuthorizationQueryParametersError</Code><Message>X-Amz-Expires must be less than a week (in seconds) that is 604800</Message>"},
		{"another region", strings.Replace(req.URL, "%2F"+f.SSMRegion()+"%2F", "%2Feu-west-3%2F", 1), http.StatusBadRequest,
			"<Message>Error parsing the X-Amz-Credential parameter; the region &#39;eu-west-3&#39; is wrong; expecting &#39;" + f.SSMRegion() + "&#39;</Message>"},
		{"a missing key", strings.Replace(req.URL, "/p/x?", "/p/y?", 1), http.StatusNotFound, "<Code>NoSuchKey</Code>"},
	}
	for _, tc := range tests {
		code, body := httpGet(t, tc.url)
		if code != tc.code || !strings.Contains(body, tc.want) {
			t.Errorf("%s: %d %s\nwant %d with %s", tc.name, code, body, tc.code, tc.want)
		}
	}

	got := f.SSMStats()
	want := S3Stats{Puts: 1, Heads: 1, Gets: 1, PresignedGets: 1, BytesPut: int64(len(data)), BytesGot: int64(len(data)), Refused: 6}
	if got.S3 != want {
		t.Errorf("S3 stats %+v\nwant %+v", got.S3, want)
	}
	if got.Calls["S3.PutObject"] != 1 || got.Calls["S3.HeadObject"] != 2 || got.Calls["S3.GetObject"] != 6 {
		t.Errorf("calls %v", got.Calls)
	}
}

func TestSimulatedS3RefusesWhatS3Refuses(t *testing.T) {
	t.Parallel()
	f := startFleet(t, FleetOptions{Hosts: 1, SSM: true})
	f.ssm.mu.Lock()
	f.ssm.s3MaxObject = 10
	f.ssm.mu.Unlock()
	c := s3Client(f, f.SSMRegion())
	ctx := t.Context()
	put := func(body string) error {
		_, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("transfer"), Key: aws.String("k"),
			Body: strings.NewReader(body), ContentLength: aws.Int64(int64(len(body)))})
		return err
	}
	var ae smithy.APIError
	if err := put("0123456789a"); !errors.As(err, &ae) || ae.ErrorCode() != "EntityTooLarge" {
		t.Errorf("11 bytes over a 10-byte limit: %v, want EntityTooLarge", err)
	}
	if err := put("0123456789"); err != nil {
		t.Errorf("10 bytes: %v", err)
	}

	// A body that is not what its signed hash says.
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, f.SSMEndpoint()+"/transfer/k2", strings.NewReader("abc"))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=AKIDSIMULATED/20260101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=00")
	req.Header.Set("X-Amz-Content-Sha256", strings.Repeat("0", 64))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close() // read
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), "<Code>XAmzContentSHA256Mismatch</Code>") {
		t.Errorf("mismatched x-amz-content-sha256: %d %s", resp.StatusCode, body)
	}
	if st := f.SSMStats().S3; st.Puts != 1 || st.BytesPut != 10 || st.Refused != 2 {
		t.Errorf("S3 stats %+v", st)
	}
}
