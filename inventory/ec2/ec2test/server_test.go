package ec2test

import (
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var testFleet = []Instance{
	{ID: "i-00000000000000001", Region: "eu-west-1", Platform: "windows", PrivateIP: "127.0.0.1", PublicIP: "127.0.1.1",
		Tags: []Tag{{"Name", "web-01"}, {"Role", "web"}, {"Note", "a*b"}}},
	{ID: "i-00000000000000002", Region: "eu-west-1", Platform: "windows", PrivateIP: "127.0.0.2",
		Tags: []Tag{{"Name", "web-02"}, {"Role", "web"}, {"Empty", ""}}},
	{ID: "i-00000000000000003", Region: "eu-west-1", State: "stopped", Platform: "windows", PrivateIP: "127.0.0.3",
		Tags: []Tag{{"Name", "sql-01"}, {"Role", "sql"}}},
	{ID: "i-00000000000000004", Region: "eu-west-1", PrivateIP: "127.0.0.4", Tags: []Tag{{"Name", "linux-01"}, {"Role", "web"}}},
	{ID: "i-00000000000000005", Region: "us-east-1", Platform: "windows", PrivateIP: "127.0.0.5", Tags: []Tag{{"Name", "web-05"}, {"Role", "web"}}},
}

// post sends a Query API request signed (in name only) for region.
func post(t testing.TB, srv *Server, region string, form url.Values) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, srv.URL, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=AKIDTEST/20240101/"+region+"/ec2/aws4_request, SignedHeaders=host, Signature=00")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close() // read to the end; nothing left to report
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(body)
}

// listed returns the instance ids of a DescribeInstances answer, or its
// error code.
func listed(t testing.TB, body string) []string {
	t.Helper()
	var doc struct {
		IDs   []string `xml:"reservationSet>item>instancesSet>item>instanceId"`
		Codes []string `xml:"Errors>Error>Code"`
	}
	if err := xml.Unmarshal([]byte(body), &doc); err != nil {
		t.Fatalf("answer is not XML: %v\n%s", err, body)
	}
	if len(doc.Codes) > 0 {
		return doc.Codes
	}
	return doc.IDs
}

func TestDescribeInstancesFiltersAsEC2Does(t *testing.T) {
	t.Parallel()
	srv := NewServer(testFleet)
	t.Cleanup(srv.Close) // after the parallel subtests
	tests := []struct {
		name   string
		region string
		params map[string]string
		want   []string
	}{
		{"no filter lists every instance of the signed region", "eu-west-1", nil,
			[]string{"i-00000000000000001", "i-00000000000000002", "i-00000000000000003", "i-00000000000000004"}},
		{"another region lists its own", "us-east-1", nil, []string{"i-00000000000000005"}},
		{"values of one filter are ORed, filters ANDed", "eu-west-1",
			map[string]string{"Filter.1.Name": "tag:Name", "Filter.1.Value.1": "web-01", "Filter.1.Value.2": "sql-01", "Filter.2.Name": "instance-state-name", "Filter.2.Value.1": "running"},
			[]string{"i-00000000000000001"}},
		{"the platform filter leaves Linux out", "eu-west-1",
			map[string]string{"Filter.1.Name": "platform", "Filter.1.Value.1": "windows"},
			[]string{"i-00000000000000001", "i-00000000000000002", "i-00000000000000003"}},
		{"* matches an empty tag value but not a missing tag", "eu-west-1",
			map[string]string{"Filter.1.Name": "tag:Empty", "Filter.1.Value.1": "*"},
			[]string{"i-00000000000000002"}},
		{"? matches one character and a backslash escapes", "eu-west-1",
			map[string]string{"Filter.1.Name": "tag:Note", "Filter.1.Value.1": `?\*b`},
			[]string{"i-00000000000000001"}},
		{"a missing attribute matches nothing, not even *", "eu-west-1",
			map[string]string{"Filter.1.Name": "ip-address", "Filter.1.Value.1": "*"},
			[]string{"i-00000000000000001"}},
		{"tag-key matches any key", "eu-west-1",
			map[string]string{"Filter.1.Name": "tag-key", "Filter.1.Value.1": "Note", "Filter.1.Value.2": "Empty"},
			[]string{"i-00000000000000001", "i-00000000000000002"}},
		{"instance ids restrict the listing", "eu-west-1",
			map[string]string{"InstanceId.1": "i-00000000000000003", "InstanceId.2": "i-00000000000000001"},
			[]string{"i-00000000000000001", "i-00000000000000003"}},
		{"an instance id of another region does not exist", "eu-west-1",
			map[string]string{"InstanceId.1": "i-00000000000000005"}, []string{"InvalidInstanceID.NotFound"}},
		{"MaxResults with instance ids is refused", "eu-west-1",
			map[string]string{"InstanceId.1": "i-00000000000000001", "MaxResults": "5"}, []string{"InvalidParameterCombination"}},
		{"MaxResults below 5 is refused", "eu-west-1", map[string]string{"MaxResults": "4"}, []string{"InvalidParameterValue"}},
		{"an unknown filter is refused", "eu-west-1",
			map[string]string{"Filter.1.Name": "colour", "Filter.1.Value.1": "red"}, []string{"InvalidParameterValue"}},
		{"a foreign NextToken is refused", "eu-west-1", map[string]string{"NextToken": "abc"}, []string{"InvalidParameterValue"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			form := url.Values{"Action": {"DescribeInstances"}, "Version": {"2016-11-15"}}
			for k, v := range tt.params {
				form.Set(k, v)
			}
			_, body := post(t, srv, tt.region, form)
			if diff := cmp.Diff(tt.want, listed(t, body)); diff != "" {
				t.Errorf("listing (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDescribeInstancesPagesWithNextToken(t *testing.T) {
	t.Parallel()
	var fleet []Instance
	for i := range 12 {
		fleet = append(fleet, Instance{ID: "i-0000000000000000" + string(rune('a'+i)), Region: "eu-west-1"})
	}
	srv := NewServer(fleet)
	defer srv.Close()
	var pages [][]string
	token := ""
	for range 10 {
		form := url.Values{"Action": {"DescribeInstances"}, "MaxResults": {"5"}}
		if token != "" {
			form.Set("NextToken", token)
		}
		_, body := post(t, srv, "eu-west-1", form)
		pages = append(pages, listed(t, body))
		var doc struct {
			Next string `xml:"nextToken"`
		}
		if err := xml.Unmarshal([]byte(body), &doc); err != nil {
			t.Fatal(err)
		}
		if token = doc.Next; token == "" {
			break
		}
	}
	var sizes []int
	for _, p := range pages {
		sizes = append(sizes, len(p))
	}
	if diff := cmp.Diff([]int{5, 5, 2}, sizes); diff != "" {
		t.Errorf("page sizes (-want +got):\n%s", diff)
	}
}

func TestThrottleAndDenyAnswerAsAWSDoes(t *testing.T) {
	t.Parallel()
	srv := NewServer(testFleet)
	defer srv.Close()
	srv.Throttle(1)
	srv.Deny("GetPasswordData", "eu-west-1")
	form := url.Values{"Action": {"DescribeInstances"}}
	status, body := post(t, srv, "eu-west-1", form)
	if status != http.StatusServiceUnavailable || !strings.Contains(body, "<Code>RequestLimitExceeded</Code>") {
		t.Errorf("throttled answer %d %s", status, body)
	}
	if status, _ := post(t, srv, "eu-west-1", form); status != http.StatusOK {
		t.Errorf("answer after the throttled one: %d", status)
	}
	status, body = post(t, srv, "eu-west-1", url.Values{"Action": {"GetPasswordData"}, "InstanceId": {"i-00000000000000001"}})
	if status != http.StatusForbidden || !strings.Contains(body, "<Code>UnauthorizedOperation</Code>") {
		t.Errorf("denied answer %d %s", status, body)
	}
	var statuses []int
	for _, r := range srv.Requests() {
		statuses = append(statuses, r.Status)
	}
	if diff := cmp.Diff([]int{503, 200, 403}, statuses); diff != "" {
		t.Errorf("recorded statuses (-want +got):\n%s", diff)
	}
}

// FuzzDescribeInstancesForm checks that no request body makes the server
// panic or answer something other than a listing or a client error.
func FuzzDescribeInstancesForm(f *testing.F) {
	f.Add("Action=DescribeInstances&Filter.1.Name=tag:Role&Filter.1.Value.1=w*b")
	f.Add("Action=DescribeInstances&MaxResults=5&NextToken=x")
	f.Add("Action=DescribeInstances&Filter.1.Value.1=x&Filter.x.Name=y&InstanceId.1=i-1")
	f.Add("Action=DescribeInstances&Filter.1.Name=tag:Note&Filter.1.Value.1=%5C")
	srv := NewServer(testFleet)
	defer srv.Close()
	f.Fuzz(func(t *testing.T, body string) {
		form, err := url.ParseQuery(body)
		if err != nil {
			return
		}
		form.Set("Action", "DescribeInstances")
		status, _ := post(t, srv, "eu-west-1", form)
		if status != http.StatusOK && status != http.StatusBadRequest {
			t.Errorf("answered %d to %q", status, body)
		}
	})
}

// A held DescribeInstances waits, unanswered, until released; other
// actions are not held.
func TestHoldDescribeInstancesUntilReleased(t *testing.T) {
	t.Parallel()
	srv := NewServer(testFleet)
	defer srv.Close()
	held, release := srv.HoldDescribeInstances()
	defer release()
	type answer struct {
		status int
		body   string
	}
	answers := make(chan answer, 1)
	go func() {
		code, body := post(t, srv, "eu-west-1", url.Values{"Action": {"DescribeInstances"}}) //nolint:testinggoroutine // post fails only on a broken loopback
		answers <- answer{code, body}
	}()
	select {
	case <-held:
	case a := <-answers:
		t.Fatalf("a held DescribeInstances was answered: %d %s", a.status, a.body)
	case <-time.After(time.Minute):
		t.Fatal("the request was not held within a minute")
	}
	if n := len(srv.Requests()); n != 0 {
		t.Fatalf("%d requests recorded while held, want 0", n)
	}
	release()
	a := <-answers
	if diff := cmp.Diff([]string{"i-00000000000000001", "i-00000000000000002", "i-00000000000000003", "i-00000000000000004"}, listed(t, a.body)); a.status != http.StatusOK || diff != "" {
		t.Errorf("after release: status %d, instances (-want +got):\n%s", a.status, diff)
	}
}

func TestCallsFoldTheAttemptsOfOneInvocation(t *testing.T) {
	t.Parallel()
	srv := NewServer(nil)
	t.Cleanup(srv.Close)
	post := func(invocation, attempt, action string) {
		t.Helper()
		req, err := http.NewRequest(http.MethodPost, srv.URL, strings.NewReader("Action="+action))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=AKIDTEST/20261203/eu-west-1/ec2/aws4_request")
		req.Header.Set("Amz-Sdk-Invocation-Id", invocation)
		req.Header.Set("Amz-Sdk-Request", "attempt="+attempt+"; max=5")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
	}
	post("a", "1", "DescribeInstances")
	post("b", "1", "GetPasswordData")
	post("a", "2", "DescribeInstances")
	var got []string
	for _, c := range srv.Calls() {
		got = append(got, fmt.Sprintf("%s %s attempt %d", c.Invocation, c.Action, c.Attempt))
	}
	want := []string{"a DescribeInstances attempt 2", "b GetPasswordData attempt 1"}
	if !slices.Equal(got, want) {
		t.Errorf("calls %q, want %q", got, want)
	}
	if n := len(srv.Requests()); n != 3 {
		t.Errorf("%d requests, want 3", n)
	}
}
