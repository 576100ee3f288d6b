package views_test

import (
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/fleetrun/fleetrun/cmd/fleetrun/internal/views"
)

func seq(prefix string, from, to int, width int, suffix string) []string {
	var out []string
	for i := from; i <= to; i++ {
		n := strconv.Itoa(i)
		for len(n) < width {
			n = "0" + n
		}
		out = append(out, prefix+n+suffix)
	}
	return out
}

func TestCompressNames(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		in    []string
		want  string
		hosts []int
	}{
		{"one zero-padded run becomes one range", seq("web-", 1, 37, 3, ""), "web-[001-037]", []int{37}},
		{"gaps make several ranges inside the brackets", append(append(seq("web-", 1, 37, 3, ""), "web-040"), seq("web-", 45, 50, 3, "")...), "web-[001-037,040,045-050]", []int{44}},
		{"order of the input does not matter within a pattern", []string{"web-03", "web-01", "web-02"}, "web-[01-03]", []int{3}},
		{"padding is kept across a change of digit count", seq("app-", 98, 101, 3, ""), "app-[098-101]", []int{4}},
		{"unpadded numbers join across widths", seq("app-", 9, 11, 0, ""), "app-[9-11]", []int{3}},
		{"padded and unpadded numbers of other widths do not join", []string{"app-08", "app-9", "app-10"}, "app-[08,9-10]", []int{3}},
		{"the last number varies; the rest is the pattern", append(seq("rack1-node", 1, 3, 0, ".corp"), seq("rack2-node", 1, 2, 0, ".corp")...), "rack1-node[1-3].corp,rack2-node[1-2].corp", []int{3, 2}},
		{"names that share no pattern are listed", []string{"db-01", "mail", "web-01", "web-02", "ldap"}, "db-01,mail,web-[01-02],ldap", []int{1, 1, 2, 1}},
		{"a repeated name counts once", []string{"web-1", "web-1", "web-2"}, "web-[1-2]", []int{2}},
		{"the same number written two ways stays two names", []string{"web-1", "web-01"}, "web-[01,1]", []int{2}},
		{"names with brackets or commas are listed as they are", []string{"a[1]", "a[2]", "x,1", "x,2"}, "a[1],a[2],x,1,x,2", []int{1, 1, 1, 1}},
		{"numbers too large to step through are listed", []string{"n99999999999999999999", "n99999999999999999998"}, "n99999999999999999999,n99999999999999999998", []int{1, 1}},
		{"no names", nil, "", []int{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := views.CompressNames(tt.in); got != tt.want {
				t.Errorf("CompressNames = %q, want %q", got, tt.want)
			}
			hosts := []int{}
			for _, term := range views.CompressNameTerms(tt.in) {
				hosts = append(hosts, term.Hosts)
			}
			if diff := cmp.Diff(tt.hosts, hosts); diff != "" {
				t.Errorf("hosts per term (-want +got):\n%s", diff)
			}
		})
	}
}

// expandTerm is the inverse of one term: the names it stands for.
func expandTerm(t *testing.T, term views.NameTerm) []string {
	t.Helper()
	if term.Hosts == 1 {
		return []string{term.Text}
	}
	open, end := strings.LastIndexByte(term.Text, '['), strings.LastIndexByte(term.Text, ']')
	if open < 0 || end < open {
		t.Fatalf("term %q of %d hosts is no pattern", term.Text, term.Hosts)
	}
	prefix, suffix := term.Text[:open], term.Text[end+1:]
	var out []string
	for _, r := range strings.Split(term.Text[open+1:end], ",") {
		lo, hi, isRange := strings.Cut(r, "-")
		if !isRange {
			out = append(out, prefix+lo+suffix)
			continue
		}
		a, err1 := strconv.ParseUint(lo, 10, 64)
		b, err2 := strconv.ParseUint(hi, 10, 64)
		if err1 != nil || err2 != nil || b <= a {
			t.Fatalf("term %q: bad range %q", term.Text, r)
		}
		width := 0
		if len(lo) > 1 && lo[0] == '0' {
			width = len(lo)
		}
		for n := a; n <= b; n++ {
			s := strconv.FormatUint(n, 10)
			for len(s) < width {
				s = "0" + s
			}
			out = append(out, prefix+s+suffix)
		}
	}
	return out
}

// FuzzCompressNames checks that the terms stand for exactly the distinct
// names given, each once, and that their host counts add up.
func FuzzCompressNames(f *testing.F) {
	f.Add("web-001\nweb-002\nweb-003\ndb-1")
	f.Add("app-099\napp-100\napp-9\napp-10\napp-08")
	f.Add("a[1]\na,2\n\nx-0\nx-00\nx-1")
	f.Add("n18446744073709551615\nn18446744073709551614\nsim-0001.corp\nsim-0002.corp")
	f.Fuzz(func(t *testing.T, list string) {
		names := strings.Split(list, "\n")
		var want []string
		for _, n := range names {
			if !slices.Contains(want, n) {
				want = append(want, n)
			}
		}
		var got []string
		total := 0
		for _, term := range views.CompressNameTerms(names) {
			got = append(got, expandTerm(t, term)...)
			total += term.Hosts
		}
		if total != len(want) {
			t.Errorf("terms count %d hosts, want %d", total, len(want))
		}
		slices.Sort(want)
		slices.Sort(got)
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("expanded terms (-want +got):\n%s", diff)
		}
	})
}
