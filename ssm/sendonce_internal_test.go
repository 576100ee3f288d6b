package ssm

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// answered is an error answer of the API with the given HTTP status.
func answered(status int, code string) error {
	return &smithy.OperationError{ServiceID: "SSM", OperationName: "SendCommand", Err: &awshttp.ResponseError{
		ResponseError: &smithyhttp.ResponseError{Response: &smithyhttp.Response{Response: &http.Response{StatusCode: status}},
			Err: &smithy.GenericAPIError{Code: code, Message: "m"}}}}
}

// sendFailed is a request the HTTP client could not complete.
func sendFailed(err error) error {
	return &smithy.OperationError{ServiceID: "SSM", OperationName: "SendCommand", Err: &smithyhttp.RequestSendError{
		Err: &url.Error{Op: "Post", URL: "https://ssm.eu-west-1.amazonaws.com/", Err: err}}}
}

func TestWhichSendCommandFailuresAreRetriedOrLookedUp(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name          string
		err           error
		wantRetry     bool // by the SDK, at once
		wantMayLanded bool // looked up before any new attempt
	}{
		{"a throttling answer", answered(400, "ThrottlingException"), true, false},
		{"an HTTP 429", answered(429, "TooManyRequests"), true, false},
		{"a validation error", answered(400, "ValidationException"), false, false},
		{"an instance in no valid state", answered(400, "InvalidInstanceId"), false, false},
		{"an internal server error", answered(500, "InternalServerError"), false, true},
		{"a service unavailable", answered(503, "ServiceUnavailable"), false, true},
		{"a refused connection", sendFailed(&net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connect: connection refused")}), true, false},
		{"a name that does not resolve", sendFailed(&net.DNSError{Err: "no such host", Name: "ssm.example", IsNotFound: true}), false, false},
		{"a name lookup that timed out", sendFailed(&net.DNSError{Err: "timeout", Name: "ssm.example", IsTimeout: true}), true, false},
		{"a certificate the client refused", sendFailed(&tls.CertificateVerificationError{Err: errors.New("unknown authority")}), false, false},
		{"a reset connection", sendFailed(&net.OpError{Op: "read", Net: "tcp", Err: errors.New("connection reset by peer")}), false, true},
		{"a connection closed without an answer", sendFailed(errors.New("EOF")), false, true},
		{"no answer in time", &noAnswer{err: &smithy.CanceledError{Err: context.DeadlineExceeded}}, false, true},
		{"an answer that could not be read", answered(200, ""), false, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := retryableSend(tc.err) == aws.TrueTernary; got != tc.wantRetry {
				t.Errorf("retried by the SDK: %v, want %v", got, tc.wantRetry)
			}
			if got := mayHaveLanded(tc.err); got != tc.wantMayLanded {
				t.Errorf("may have created the command: %v, want %v", got, tc.wantMayLanded)
			}
			if tc.wantRetry && tc.wantMayLanded {
				t.Error("a failure that may have created the command must not be retried")
			}
		})
	}
}

func TestACommentNamesTheRunTheStepAndTheCommandWithinTheLimit(t *testing.T) {
	t.Parallel()
	c := &coordinator{run: "0123456789ab"}
	tests := []struct {
		name string
		n    int64
		want string
	}{
		{"install patch", 7, "fleetrun 0123456789ab install patch #7"},
		{"", 1, "fleetrun 0123456789ab step #1"},
		{"two\nlines\tand\x7f", 2, "fleetrun 0123456789ab two lines and  #2"},
		{strings.Repeat("a", 200), 12345, "fleetrun 0123456789ab " + strings.Repeat("a", 100-len("fleetrun 0123456789ab ")-len(" #12345")) + " #12345"},
	}
	for _, tc := range tests {
		if got := c.comment(tc.name, tc.n); got != tc.want {
			t.Errorf("comment(%q, %d) = %q, want %q", tc.name, tc.n, got, tc.want)
		}
	}
	// A name cut in the middle of a character keeps whole characters.
	got := c.comment(strings.Repeat("日本", 40), 3)
	if len(got) > maxComment || !utf8.ValidString(got) || !strings.HasSuffix(got, "本 #3") && !strings.HasSuffix(got, "日 #3") {
		t.Errorf("comment of a long Japanese name: %q (%d bytes)", got, len(got))
	}
}
