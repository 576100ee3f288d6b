package sim

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/aws/aws-sdk-go-v2/service/ssm/types"
	"github.com/aws/smithy-go"
	"github.com/google/go-cmp/cmp"
)

// ssmClient is the real SDK client pointed at the fleet's endpoint, with
// retries off so that tests see every answer.
func ssmClient(f *Fleet) *ssm.Client {
	return ssm.New(ssm.Options{
		Region:           f.SSMRegion(),
		BaseEndpoint:     aws.String(f.SSMEndpoint()),
		Credentials:      credentials.NewStaticCredentialsProvider("AKIDSIMULATED", "simulated", ""),
		RetryMaxAttempts: 1,
	})
}

// waitInvocation polls a command's invocation on one instance until it
// reaches a terminal status. Polling is how Run Command clients wait; the
// loop has no sleep of its own, the deadline bounds it.
func waitInvocation(ctx context.Context, t *testing.T, c *ssm.Client, commandID, instance string) types.CommandInvocation {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		out, err := c.ListCommandInvocations(ctx, &ssm.ListCommandInvocationsInput{CommandId: aws.String(commandID), InstanceId: aws.String(instance), Details: true})
		if err != nil {
			t.Fatalf("ListCommandInvocations: %v", err)
		}
		if len(out.CommandInvocations) != 1 {
			t.Fatalf("ListCommandInvocations: %d invocations, want 1", len(out.CommandInvocations))
		}
		inv := out.CommandInvocations[0]
		switch inv.Status {
		case types.CommandInvocationStatusSuccess, types.CommandInvocationStatusFailed,
			types.CommandInvocationStatusTimedOut, types.CommandInvocationStatusCancelled:
			return inv
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			t.Fatalf("invocation %s on %s still %s", commandID, instance, inv.Status)
		}
	}
}

func sendScript(ctx context.Context, t *testing.T, c *ssm.Client, script string, params map[string][]string, instances ...string) string {
	t.Helper()
	p := map[string][]string{"commands": {script}}
	for k, v := range params {
		p[k] = v
	}
	out, err := c.SendCommand(ctx, &ssm.SendCommandInput{DocumentName: aws.String("AWS-RunPowerShellScript"), InstanceIds: instances, Parameters: p})
	if err != nil {
		t.Fatalf("SendCommand: %v", err)
	}
	return aws.ToString(out.Command.CommandId)
}

func TestSSMEndpointRunsScriptsWithTheHostModel(t *testing.T) {
	t.Parallel()
	f := startFleet(t, FleetOptions{Hosts: 3, SSM: true, Scenario: mustScenario(t, `
host_settings:
  sim-0003: {faults: {refused: true}}
defaults:
  rules:
    - {match: Get-Big, stdout: "`+strings.Repeat("x", 30000)+`", stderr: "`+strings.Repeat("e", 9000)+`", exit: 2}
`)})
	c := ssmClient(f)
	ctx := context.Background()
	ids := []string{f.InstanceID(f.Hosts()[0]), f.InstanceID(f.Hosts()[1]), f.InstanceID(f.Hosts()[2])}

	info, err := c.DescribeInstanceInformation(ctx, &ssm.DescribeInstanceInformationInput{})
	if err != nil {
		t.Fatal(err)
	}
	pings := map[string]types.PingStatus{}
	for _, i := range info.InstanceInformationList {
		pings[aws.ToString(i.InstanceId)] = i.PingStatus
	}
	if diff := cmp.Diff(map[string]types.PingStatus{ids[0]: "Online", ids[1]: "Online", ids[2]: "ConnectionLost"}, pings); diff != "" {
		t.Errorf("ping statuses (-want +got):\n%s", diff)
	}

	t.Run("a failing script reports its code, its output and the agent's note", func(t *testing.T) {
		id := sendScript(ctx, t, c, "Write-Output 'hello'\n[Console]::Error.WriteLine('oops')\nexit 4", nil, ids[0])
		inv := waitInvocation(ctx, t, c, id, ids[0])
		p := inv.CommandPlugins[0]
		if inv.Status != "Failed" || p.ResponseCode != 4 || aws.ToString(p.Output) != "hello\r\n\n----------ERROR-------\noops\r\nfailed to run commands: exit status 4" {
			t.Errorf("status %s code %d output %q", inv.Status, p.ResponseCode, aws.ToString(p.Output))
		}
		got, err := c.GetCommandInvocation(ctx, &ssm.GetCommandInvocationInput{CommandId: aws.String(id), InstanceId: aws.String(ids[0])})
		if err != nil {
			t.Fatal(err)
		}
		if aws.ToString(got.StandardOutputContent) != "hello\r\n" || aws.ToString(got.StandardErrorContent) != "oops\r\nfailed to run commands: exit status 4" {
			t.Errorf("stdout %q stderr %q", aws.ToString(got.StandardOutputContent), aws.ToString(got.StandardErrorContent))
		}
	})

	t.Run("long output is truncated inline and complete in S3", func(t *testing.T) {
		out, err := c.SendCommand(ctx, &ssm.SendCommandInput{DocumentName: aws.String("AWS-RunPowerShellScript"), InstanceIds: ids[:1],
			Parameters: map[string][]string{"commands": {"Get-Big"}}, OutputS3BucketName: aws.String("fleet-out"), OutputS3KeyPrefix: aws.String("runs")})
		if err != nil {
			t.Fatal(err)
		}
		id := aws.ToString(out.Command.CommandId)
		waitInvocation(ctx, t, c, id, ids[0])
		got, err := c.GetCommandInvocation(ctx, &ssm.GetCommandInvocationInput{CommandId: aws.String(id), InstanceId: aws.String(ids[0])})
		if err != nil {
			t.Fatal(err)
		}
		stdout, stderr := aws.ToString(got.StandardOutputContent), aws.ToString(got.StandardErrorContent)
		if len(stdout) != 24000 || !strings.HasSuffix(stdout, "--output truncated--") || len(stderr) != 8000 {
			t.Errorf("inline stdout %d bytes, stderr %d bytes", len(stdout), len(stderr))
		}
		want := "https://s3." + f.SSMRegion() + ".amazonaws.com/fleet-out/runs/" + id + "/" + ids[0] + "/awsrunPowerShellScript/0.awsrunPowerShellScript/stdout"
		if aws.ToString(got.StandardOutputUrl) != want {
			t.Errorf("StandardOutputUrl %q, want %q", aws.ToString(got.StandardOutputUrl), want)
		}
		s3c := s3.New(s3.Options{Region: f.SSMRegion(), BaseEndpoint: aws.String(f.SSMEndpoint()), UsePathStyle: true,
			Credentials: credentials.NewStaticCredentialsProvider("AKIDSIMULATED", "simulated", "")})
		obj, err := s3c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("fleet-out"), Key: aws.String("runs/" + id + "/" + ids[0] + "/awsrunPowerShellScript/0.awsrunPowerShellScript/stdout")})
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(obj.Body)
		_ = obj.Body.Close() // read fully
		if err != nil || string(data) != strings.Repeat("x", 30000) {
			t.Errorf("S3 stdout %d bytes, %v", len(data), err)
		}
	})

	t.Run("a cancelled command ends as Cancelled", func(t *testing.T) {
		id := sendScript(ctx, t, c, `& 'C:\tools\sleep.exe' 600`, nil, ids[1])
		if _, err := c.CancelCommand(ctx, &ssm.CancelCommandInput{CommandId: aws.String(id), InstanceIds: ids[1:2]}); err != nil {
			t.Fatal(err)
		}
		if inv := waitInvocation(ctx, t, c, id, ids[1]); inv.Status != "Cancelled" {
			t.Errorf("status %s, want Cancelled", inv.Status)
		}
	})

	t.Run("an unknown instance fails the whole call", func(t *testing.T) {
		_, err := c.SendCommand(ctx, &ssm.SendCommandInput{DocumentName: aws.String("AWS-RunPowerShellScript"),
			InstanceIds: []string{ids[0], "i-0000000000000dead"}, Parameters: map[string][]string{"commands": {"exit 0"}}})
		var ae smithy.APIError
		if !errors.As(err, &ae) || ae.ErrorCode() != "InvalidInstanceId" {
			t.Errorf("err %v, want InvalidInstanceId", err)
		}
	})
}

func TestSSMEndpointThrottlesAboveItsRate(t *testing.T) {
	t.Parallel()
	f := startFleet(t, FleetOptions{Hosts: 1, SSM: true, SSMRate: 1})
	c := ssmClient(f)
	var throttled int
	for range 3 {
		_, err := c.DescribeInstanceInformation(context.Background(), &ssm.DescribeInstanceInformationInput{})
		var ae smithy.APIError
		if errors.As(err, &ae) && ae.ErrorCode() == "ThrottlingException" {
			throttled++
		} else if err != nil {
			t.Fatal(err)
		}
	}
	if throttled == 0 {
		t.Errorf("three calls at once at 1 request/s: none throttled")
	}
	st := f.SSMStats()
	if st.Calls["DescribeInstanceInformation"] != 3 || st.Throttled["DescribeInstanceInformation"] != int64(throttled) {
		t.Errorf("stats %+v", st)
	}
}

func TestSSMListsComeInPagesWithATokenForTheRest(t *testing.T) {
	t.Parallel()
	items := []map[string]any{{"n": 0}, {"n": 1}, {"n": 2}, {"n": 3}, {"n": 4}}
	tests := []struct {
		token     string
		limit     int
		wantFirst int
		wantLen   int
		wantNext  any // nil: no NextToken
		wantErr   string
	}{
		{"", 2, 0, 2, "2", ""},
		{"2", 2, 2, 2, "4", ""},
		{"4", 2, 4, 1, nil, ""},
		{"", 50, 0, 5, nil, ""},
		{"5", 2, 0, 0, nil, ""},
		{"6", 2, 0, 0, nil, "InvalidNextToken"},
		{"-1", 2, 0, 0, nil, "InvalidNextToken"},
		{"x", 2, 0, 0, nil, "InvalidNextToken"},
	}
	for _, tc := range tests {
		out, e := page("Things", items, tc.token, tc.limit)
		if tc.wantErr != "" {
			if e == nil || e.typ != tc.wantErr {
				t.Errorf("token %q: %v, want %s", tc.token, e, tc.wantErr)
			}
			continue
		}
		if e != nil {
			t.Fatalf("token %q: %v", tc.token, e)
		}
		got := out["Things"].([]map[string]any)
		if len(got) != tc.wantLen || (len(got) > 0 && got[0]["n"] != tc.wantFirst) || out["NextToken"] != tc.wantNext {
			t.Errorf("token %q limit %d: %v next %v, want %d items from %d, next %v", tc.token, tc.limit, got, out["NextToken"], tc.wantLen, tc.wantFirst, tc.wantNext)
		}
	}
	for _, tc := range []struct {
		p        *int
		want     int
		wantFail bool
	}{{nil, 50, false}, {ptr(5), 5, false}, {ptr(4), 0, true}, {ptr(51), 0, true}} {
		got, e := maxResults(tc.p, 5, 50)
		if got != tc.want || (e != nil) != tc.wantFail {
			t.Errorf("maxResults(%v) = %d, %v", tc.p, got, e)
		} else if e != nil && e.msg != "MaxResults must be from 5 to 50" {
			t.Errorf("maxResults message %q", e.msg)
		}
	}
}

func TestSSMEndpointListsCommandsWithTheirCommentAndStatus(t *testing.T) {
	t.Parallel()
	f := startFleet(t, FleetOptions{Hosts: 2, SSM: true})
	c := ssmClient(f)
	ctx := context.Background()
	ids := []string{f.InstanceID(f.Hosts()[0]), f.InstanceID(f.Hosts()[1])}
	before := time.Now().Add(-time.Second)
	send := func(comment, script string, instances ...string) string {
		t.Helper()
		out, err := c.SendCommand(ctx, &ssm.SendCommandInput{DocumentName: aws.String("AWS-RunPowerShellScript"), InstanceIds: instances,
			Comment: aws.String(comment), Parameters: map[string][]string{"commands": {script}}})
		if err != nil {
			t.Fatalf("SendCommand: %v", err)
		}
		return aws.ToString(out.Command.CommandId)
	}
	both := send("fleetrun both", "exit 0", ids...)
	second := send("fleetrun second", "exit 3", ids[1])
	waitInvocation(ctx, t, c, both, ids[0])
	waitInvocation(ctx, t, c, both, ids[1])
	waitInvocation(ctx, t, c, second, ids[1])

	list := func(in *ssm.ListCommandsInput) []types.Command {
		t.Helper()
		var all []types.Command
		for {
			out, err := c.ListCommands(ctx, in)
			if err != nil {
				t.Fatalf("ListCommands: %v", err)
			}
			all = append(all, out.Commands...)
			if out.NextToken == nil {
				return all
			}
			in.NextToken = out.NextToken
		}
	}
	comments := func(cmds []types.Command) []string {
		var out []string
		for _, c := range cmds {
			out = append(out, aws.ToString(c.Comment))
		}
		return out
	}
	after := func(t time.Time) types.CommandFilter {
		return types.CommandFilter{Key: types.CommandFilterKeyInvokedAfter, Value: aws.String(t.UTC().Format(time.RFC3339))}
	}
	tests := []struct {
		name string
		in   *ssm.ListCommandsInput
		want []string
	}{
		{"every command, a page at a time", &ssm.ListCommandsInput{MaxResults: aws.Int32(1)}, []string{"fleetrun both", "fleetrun second"}},
		{"commands requested since a time", &ssm.ListCommandsInput{Filters: []types.CommandFilter{after(before)}}, []string{"fleetrun both", "fleetrun second"}},
		{"none requested later", &ssm.ListCommandsInput{Filters: []types.CommandFilter{after(time.Now().Add(time.Hour))}}, nil},
		{"commands of a document", &ssm.ListCommandsInput{Filters: []types.CommandFilter{{Key: types.CommandFilterKeyDocumentName, Value: aws.String("AWS-RunPowerShellScript")}}}, []string{"fleetrun both", "fleetrun second"}},
		{"commands of another document", &ssm.ListCommandsInput{Filters: []types.CommandFilter{{Key: types.CommandFilterKeyDocumentName, Value: aws.String("AWS-RunShellScript")}}}, nil},
		{"commands of one instance", &ssm.ListCommandsInput{InstanceId: aws.String(ids[0])}, []string{"fleetrun both"}},
		{"one command by id", &ssm.ListCommandsInput{CommandId: aws.String(second)}, []string{"fleetrun second"}},
		{"failed commands", &ssm.ListCommandsInput{Filters: []types.CommandFilter{{Key: types.CommandFilterKeyStatus, Value: aws.String("Failed")}}}, []string{"fleetrun second"}},
		{"completed commands", &ssm.ListCommandsInput{Filters: []types.CommandFilter{{Key: types.CommandFilterKeyExecutionStage, Value: aws.String("Complete")}}}, []string{"fleetrun both", "fleetrun second"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, comments(list(tc.in))); diff != "" {
				t.Errorf("comments (-want +got):\n%s", diff)
			}
		})
	}

	t.Run("a command has the shape of the API's Command", func(t *testing.T) {
		got := list(&ssm.ListCommandsInput{CommandId: aws.String(both)})[0]
		if got.Status != types.CommandStatusSuccess || got.TargetCount != 2 || got.CompletedCount != 2 || got.ErrorCount != 0 ||
			aws.ToString(got.DocumentName) != "AWS-RunPowerShellScript" || got.RequestedDateTime == nil ||
			!cmp.Equal(got.InstanceIds, ids) || !cmp.Equal(got.Parameters["commands"], []string{"exit 0"}) {
			t.Errorf("command %+v", got)
		}
		failed := list(&ssm.ListCommandsInput{CommandId: aws.String(second)})[0]
		if failed.Status != types.CommandStatusFailed || failed.ErrorCount != 1 {
			t.Errorf("failed command: status %s, %d errors", failed.Status, failed.ErrorCount)
		}
	})

	t.Run("wrong requests are refused as the API refuses them", func(t *testing.T) {
		for _, tc := range []struct {
			in   *ssm.ListCommandsInput
			code string
		}{
			{&ssm.ListCommandsInput{Filters: []types.CommandFilter{{Key: "Comment", Value: aws.String("x")}}}, "InvalidFilterKey"},
			{&ssm.ListCommandsInput{Filters: []types.CommandFilter{{Key: types.CommandFilterKeyInvokedAfter, Value: aws.String("yesterday")}}}, "InvalidFilterValue"},
			{&ssm.ListCommandsInput{InstanceId: aws.String(ids[0]), Filters: []types.CommandFilter{{Key: types.CommandFilterKeyStatus, Value: aws.String("Pending")}}}, "InvalidFilter"},
			{&ssm.ListCommandsInput{CommandId: aws.String("5117e000-0000-4000-8000-00000000dead")}, "InvalidCommandId"},
			{&ssm.ListCommandsInput{MaxResults: aws.Int32(51)}, "ValidationException"},
		} {
			_, err := c.ListCommands(ctx, tc.in)
			var ae smithy.APIError
			if !errors.As(err, &ae) || ae.ErrorCode() != tc.code {
				t.Errorf("%+v: %v, want %s", tc.in, err, tc.code)
			}
		}
		_, err := c.SendCommand(ctx, &ssm.SendCommandInput{DocumentName: aws.String("AWS-RunPowerShellScript"), InstanceIds: ids[:1],
			Comment: aws.String(strings.Repeat("c", 101)), Parameters: map[string][]string{"commands": {"exit 0"}}})
		var ae smithy.APIError
		if !errors.As(err, &ae) || ae.ErrorCode() != "ValidationException" {
			t.Errorf("a 101-character comment: %v, want ValidationException", err)
		}
	})
}

func TestSSMFaultsLoseTheAnswerOfACallTheEndpointCarriedOut(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		fault   SSMFault
		created bool
	}{
		{"a dropped connection after the command was created", SSMFault{Action: "SendCommand", Answer: SSMDropConnection}, true},
		{"a 500 after the command was created", SSMFault{Action: "SendCommand", Answer: SSMInternalError}, true},
		{"an answer held until the client gave up", SSMFault{Action: "SendCommand", Answer: SSMLateAnswer}, true},
		{"a dropped connection before anything was created", SSMFault{Action: "SendCommand", Answer: SSMDropConnection, NotCarriedOut: true}, false},
		{"a 500 before anything was created", SSMFault{Action: "SendCommand", Answer: SSMInternalError, NotCarriedOut: true}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fault.Times = 1
			f := startFleet(t, FleetOptions{Hosts: 1, SSM: true, SSMFaults: []SSMFault{tc.fault}})
			c := ssmClient(f)
			id := f.InstanceID(f.Hosts()[0])
			in := &ssm.SendCommandInput{DocumentName: aws.String("AWS-RunPowerShellScript"), InstanceIds: []string{id},
				Comment: aws.String("fleetrun lost"), Parameters: map[string][]string{"commands": {"exit 0"}}}
			// The client gives up on its own; the late answer waits for
			// that, not for a time of its own.
			ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
			defer cancel()
			if _, err := c.SendCommand(ctx, in); err == nil {
				t.Fatal("SendCommand succeeded; want its answer lost")
			}
			out, err := c.ListCommands(context.Background(), &ssm.ListCommandsInput{})
			if err != nil {
				t.Fatal(err)
			}
			st := f.SSMStats()
			if created := len(out.Commands) == 1 && aws.ToString(out.Commands[0].Comment) == "fleetrun lost"; created != tc.created || st.Invocations != int64(len(out.Commands)) {
				t.Errorf("%d commands listed, %d invocations; want the command created: %v", len(out.Commands), st.Invocations, tc.created)
			}
			if st.Faulted["SendCommand"] != 1 {
				t.Errorf("faulted %v, want one SendCommand", st.Faulted)
			}
			// Times: 1 — the next call is answered.
			if _, err := c.SendCommand(context.Background(), in); err != nil {
				t.Errorf("second SendCommand: %v", err)
			}
		})
	}
}

func TestFleetRefusesSSMFaultsItCannotApply(t *testing.T) {
	t.Parallel()
	for _, fault := range []SSMFault{
		{Action: "SendCommands", Answer: SSMDropConnection},
		{Action: "SendCommand", Answer: "slow"},
		{Action: "SendCommand", Answer: SSMLateAnswer, NotCarriedOut: true},
		{Action: "SendCommand", Answer: SSMInternalError, Times: -1},
	} {
		if f, err := StartFleet(context.Background(), FleetOptions{Hosts: 1, SSM: true, SSMFaults: []SSMFault{fault}}); err == nil {
			_ = f.Close() // the test has failed already
			t.Errorf("%+v: StartFleet succeeded", fault)
		}
	}
}
