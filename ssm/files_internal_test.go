package ssm

import (
	"strings"
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
