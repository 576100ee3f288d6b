package bench

import (
	"strings"
	"testing"
	"time"
)

func TestReplaceEC2SectionKeepsTheRestOfTheDocument(t *testing.T) {
	t.Parallel()
	r := &EC2Result{Plan: EC2Plan{Instances: 10, Passwords: 4, Forks: 2}, Discovery: time.Second, DescribeInstances: 1,
		PasswordsWall: 2 * time.Second, GetPasswordData: 4, PeakPasswordCalls: 2, SerialPasswordsWall: 3 * time.Second}
	var b strings.Builder
	writeEC2(&b, r)
	sec := b.String()
	tests := []struct{ name, doc, want string }{
		{"before the obstacles", "# x\n\n## Peers\n\np\n\n## What stands in the way\n\nw\n", "# x\n\n## Peers\n\np\n\n" + sec + "## What stands in the way\n\nw\n"},
		{"in place of an earlier one", "# x\n\n" + ec2Heading + "\n\nold\n\n## What stands in the way\n\nw\n", "# x\n\n" + sec + "## What stands in the way\n\nw\n"},
		{"at the end", "# x\n", "# x\n\n" + sec},
	}
	for _, tt := range tests {
		if got := ReplaceEC2Section(tt.doc, r); got != tt.want {
			t.Errorf("%s: got\n%s\nwant\n%s", tt.name, got, tt.want)
		}
	}
}
