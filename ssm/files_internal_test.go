package ssm

import (
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/google/go-cmp/cmp"
)

func TestDownloadScriptOutputIsReadLineByLine(t *testing.T) {
	t.Parallel()
	sum := strings.Repeat("ab", 32)
	tests := []struct {
		out     string
		want    downloadOutput
		wantErr string
	}{
		{"U\n", downloadOutput{Unchanged: true}, ""},
		{"T 1 The remote server returned an error: (503) Server Unavailable.\r\nD " + sum + " 1048576\r\n",
			downloadOutput{Done: true, SHA256: sum, Size: 1048576, Tries: []string{"The remote server returned an error: (503) Server Unavailable."}}, ""},
		{"T 2 late\n", downloadOutput{}, `download script: line "T 2 late" does not number the next try`},
		{"D " + sum + "\n", downloadOutput{}, `download script: line "D ` + sum + `" carries no SHA-256 and size`},
		{"U\nD " + sum + " 1\n", downloadOutput{Unchanged: true}, `download script: line "D ` + sum + ` 1" after its final line`},
		{"W\n", downloadOutput{}, `download script: unexpected line "W"`},
	}
	for _, tc := range tests {
		got, err := parseDownloadOutput(tc.out)
		if gotErr := errString(err); gotErr != tc.wantErr {
			t.Errorf("%q: error %q, want %q", tc.out, gotErr, tc.wantErr)
		}
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("%q (-want +got):\n%s", tc.out, diff)
		}
	}
}

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
