package ssm

import (
	"context"
	"strings"
	"testing"
	"time"

	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"
	"github.com/google/go-cmp/cmp"

	"github.com/fleetrun/fleetrun/transport"
)

func TestExecutionTimeoutRoundsUpToTheMinuteWithAMinuteToSpare(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		left time.Duration // 0: no deadline
		want int
	}{
		{"no deadline takes the document's maximum", 0, 172800},
		{"ninety seconds become three minutes", 90 * time.Second, 180},
		{"hosts a few milliseconds apart agree", 20*time.Minute - 3*time.Millisecond, 1260},
		{"an exact minute gets one more", 20 * time.Minute, 1260},
		{"a deadline already passed still gets a minute", -time.Second, 60},
		{"longer than the document allows is capped", 72 * time.Hour, 172800},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			if tc.left != 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithDeadline(ctx, now.Add(tc.left))
				defer cancel()
			}
			if got := executionTimeout(ctx, now); got != tc.want {
				t.Errorf("executionTimeout = %d, want %d", got, tc.want)
			}
		})
	}
}

func TestClassifyInvocationMapsStatusesLikeWinRM(t *testing.T) {
	t.Parallel()
	tests := []struct {
		status    ssmtypes.CommandInvocationStatus
		details   string
		code      int32
		wantCode  uint32
		wantClass transport.Class
	}{
		{"Success", "Success", 0, 0, ""},
		{"Success", "Success", 790498242, 3010, ""},
		{"Failed", "Failed", 5, 5, ""},
		{"Failed", "Failed", -1073741819, 3221225477, ""},
		{"Failed", "Failed", -1, 4294967295, ""},
		{"Failed", "Undeliverable", 0, 0, transport.ClassConnectTimeout},
		{"Failed", "Terminated", 0, 0, transport.ClassConnectTimeout},
		{"Failed", "AccessDenied", 0, 0, transport.ClassAuth},
		{"TimedOut", "DeliveryTimedOut", 0, 0, transport.ClassConnectTimeout},
		{"TimedOut", "ExecutionTimedOut", -1, 0, transport.ClassTimeout},
		{"Cancelled", "Cancelled", -1, 0, transport.ClassInterrupted},
		{"Pending", "Pending", 0, 0, transport.ClassInternal},
	}
	for _, tc := range tests {
		code, err := classifyInvocation("h", "i-1", tc.status, tc.details, tc.code)
		var class transport.Class
		if err != nil {
			class = err.Class
		}
		if code != tc.wantCode || class != tc.wantClass {
			t.Errorf("%s/%s/%d: code %d class %q, want %d %q", tc.status, tc.details, tc.code, code, class, tc.wantCode, tc.wantClass)
		}
	}
}

func TestOutputHelpers(t *testing.T) {
	t.Parallel()
	if !plainOutput("hello\r\n") || plainOutput("out\n----------ERROR-------\nerr") || plainOutput(strings.Repeat("x", 2500)) ||
		plainOutput(strings.Repeat("x", 2000)+"\n---Output truncated---") {
		t.Error("plainOutput misjudges an Output")
	}
	if got, cut := inline(strings.Repeat("x", 23980)+"--output truncated--", 24000); !cut || len(got) != 23980 {
		t.Errorf("inline: %d bytes, cut %v", len(got), cut)
	}
	if got, cut := inline("short--output truncated--", 24000); cut || string(got) != "short--output truncated--" {
		t.Errorf("inline cut a short stream that merely ends with the mark")
	}
	for _, tc := range []struct {
		in   string
		code uint32
		want string
	}{
		{"oops\r\nfailed to run commands: exit status 4", 4, "oops\r\n"},
		{"failed to run commands: exit status 0xc0000005", 3221225477, ""},
		{"failed to run commands: exit status 4", 5, "failed to run commands: exit status 4"},
	} {
		if got := string(stripAgentFailure([]byte(tc.in), tc.code)); got != tc.want {
			t.Errorf("stripAgentFailure(%q, %d) = %q, want %q", tc.in, tc.code, got, tc.want)
		}
	}
}

func TestS3LocationReadsBothURLStyles(t *testing.T) {
	t.Parallel()
	tests := []struct{ url, bucket, key string }{
		{"https://s3.us-east-1.amazonaws.com/fleet-out/runs/c/i-1/awsrunPowerShellScript/0.awsrunPowerShellScript/stdout", "fleet-out", "runs/c/i-1/awsrunPowerShellScript/0.awsrunPowerShellScript/stdout"},
		{"https://fleet-out.s3.eu-west-1.amazonaws.com/c/i-1/stdout", "fleet-out", "c/i-1/stdout"},
		{"https://s3.amazonaws.com/b/k", "b", "k"},
	}
	for _, tc := range tests {
		b, k, err := s3Location(tc.url)
		if err != nil || b != tc.bucket || k != tc.key {
			t.Errorf("s3Location(%q) = %q, %q, %v; want %q, %q", tc.url, b, k, err, tc.bucket, tc.key)
		}
	}
	for _, bad := range []string{"https://s3.amazonaws.com/", "https://s3.amazonaws.com/bucket-only", "::"} {
		if _, _, err := s3Location(bad); err == nil {
			t.Errorf("s3Location(%q) succeeded", bad)
		}
	}
}

func TestOptionsResolveRegionAndEndpointsInOrder(t *testing.T) {
	t.Parallel()
	env := map[string]string{"AWS_REGION": "eu-west-1", "AWS_ENDPOINT_URL": "http://all", "AWS_ENDPOINT_URL_SSM": "http://ssm"}
	o := Options{LookupEnv: func(k string) (string, bool) { v, ok := env[k]; return v, ok }}.withDefaults()
	got := o.resolve(&transport.Target{Name: "h", SSM: transport.SSMTarget{InstanceID: "i-1", Region: "us-west-2"}})
	want := hostConfig{name: "h", instance: "i-1", document: DefaultDocument,
		key: clientKey{region: "us-west-2", endpoint: "http://ssm", s3Endpoint: "http://all"}}
	if diff := cmp.Diff(want, got, cmp.AllowUnexported(hostConfig{}, clientKey{})); diff != "" {
		t.Errorf("resolve (-want +got):\n%s", diff)
	}
	got = o.resolve(&transport.Target{SSM: transport.SSMTarget{InstanceID: "i-2"}})
	if got.key.region != "eu-west-1" || got.name != "i-2" {
		t.Errorf("without a target region AWS_REGION applies and the instance names the host: %+v", got)
	}
}

// TestTemplateVariablesNeverChangeSSMSettings: the user's template
// variables travel in Target.Vars; one named like an SSM setting (region,
// instance_id, ssm.region, ...) changes nothing about how the host is
// reached.
func TestTemplateVariablesNeverChangeSSMSettings(t *testing.T) {
	t.Parallel()
	o := Options{}.withDefaults()
	ssmTarget := transport.SSMTarget{InstanceID: "i-0123456789abcdef0", Region: "eu-west-1", Profile: "ops",
		Endpoint: "http://ssm.test", S3Endpoint: "http://s3.test", OutputS3Bucket: "out", OutputS3Prefix: "p/", Document: "Doc-1"}
	want := hostConfig{name: "web-01", instance: "i-0123456789abcdef0", document: "Doc-1", bucket: "out", prefix: "p/",
		key: clientKey{region: "eu-west-1", profile: "ops", endpoint: "http://ssm.test", s3Endpoint: "http://s3.test"}}
	for _, vars := range []map[string]string{
		nil,
		{"region": "ap-south-1"},
		{"instance_id": "i-fffffffffffffffff", "region": "ap-south-1"},
		{"ssm.region": "us-west-2", "ssm.profile": "other", "ssm.endpoint": "http://evil", "ssm.document": "Other", "ssm.output_s3_bucket": "b2"},
	} {
		got := o.resolve(&transport.Target{Name: "web-01", SSM: ssmTarget, Vars: vars})
		if diff := cmp.Diff(want, got, cmp.AllowUnexported(hostConfig{}, clientKey{})); diff != "" {
			t.Errorf("vars %v: resolve (-want +got):\n%s", vars, diff)
		}
	}
}

// FuzzS3Location checks the output-URL parser never panics and returns a
// bucket and key only when both are there.
func FuzzS3Location(f *testing.F) {
	f.Add("https://s3.us-east-1.amazonaws.com/b/k/stdout")
	f.Add("https://b.s3.us-east-1.amazonaws.com/k")
	f.Add("http://127.0.0.1:1/b/")
	f.Fuzz(func(t *testing.T, raw string) {
		b, k, err := s3Location(raw)
		if err == nil && (b == "" || k == "") {
			t.Fatalf("s3Location(%q) = %q, %q without an error", raw, b, k)
		}
	})
}
