package views

import (
	"slices"
	"strconv"
	"strings"
)

// NameTerm is one term of a compressed host list: a name ("db-01") or a
// pattern with ranges ("web-[001-037,040]"), and how many hosts it stands
// for.
type NameTerm struct {
	Text  string
	Hosts int
}

// CompressNames writes host names compactly, the way pdsh and Slurm write
// host lists: names that differ only in their last number share one term,
// "web-[001-037]", whose ranges are joined with "," inside the brackets
// ("web-[001-037,040,045-050]"); zero-padding is kept, and numbers of
// different widths are never joined unless neither is padded ("app-[9-11]").
// Names without a number, or whose number stands alone, are listed as they
// are. Terms are joined with ",", in the order of their first name in names;
// repeated names count once.
func CompressNames(names []string) string {
	terms := CompressNameTerms(names)
	texts := make([]string, len(terms))
	for i, t := range terms {
		texts[i] = t.Text
	}
	return strings.Join(texts, ",")
}

// numbered is a name split around its last run of decimal digits.
type numbered struct {
	num    uint64
	digits string
}

// CompressNameTerms is CompressNames as a list of terms, so a caller can
// show the first few and count the hosts of the rest.
func CompressNameTerms(names []string) []NameTerm {
	type group struct {
		prefix, suffix string
		nums           []numbered
		plain          string // a name without a usable number
	}
	var groups []*group
	byKey := map[[2]string]*group{}
	seen := map[string]bool{}
	for _, n := range names {
		if seen[n] {
			continue
		}
		seen[n] = true
		prefix, digits, suffix, ok := splitLastNumber(n)
		var num uint64
		if ok {
			var err error
			num, err = strconv.ParseUint(digits, 10, 64)
			ok = err == nil && num < 1<<62 // no overflow when stepping to the next number
		}
		// Brackets and commas would make a term unreadable as a pattern;
		// such names are listed as they are.
		if !ok || strings.ContainsAny(prefix+suffix, "[],") {
			groups = append(groups, &group{plain: n})
			continue
		}
		key := [2]string{prefix, suffix}
		g, found := byKey[key]
		if !found {
			g = &group{prefix: prefix, suffix: suffix}
			byKey[key] = g
			groups = append(groups, g)
		}
		g.nums = append(g.nums, numbered{num: num, digits: digits})
	}
	terms := make([]NameTerm, 0, len(groups))
	for _, g := range groups {
		if g.nums == nil {
			terms = append(terms, NameTerm{Text: g.plain, Hosts: 1})
			continue
		}
		if len(g.nums) == 1 {
			terms = append(terms, NameTerm{Text: g.prefix + g.nums[0].digits + g.suffix, Hosts: 1})
			continue
		}
		slices.SortFunc(g.nums, func(a, b numbered) int {
			if a.num != b.num {
				if a.num < b.num {
					return -1
				}
				return 1
			}
			return strings.Compare(a.digits, b.digits)
		})
		var ranges []string
		for i := 0; i < len(g.nums); {
			j := i
			for j+1 < len(g.nums) && joins(g.nums[j], g.nums[j+1]) {
				j++
			}
			if j == i {
				ranges = append(ranges, g.nums[i].digits)
			} else {
				ranges = append(ranges, g.nums[i].digits+"-"+g.nums[j].digits)
			}
			i = j + 1
		}
		terms = append(terms, NameTerm{Text: g.prefix + "[" + strings.Join(ranges, ",") + "]" + g.suffix, Hosts: len(g.nums)})
	}
	return terms
}

// joins reports whether b follows a in one range: the next number, written
// the same way (the same width when either is zero-padded).
func joins(a, b numbered) bool {
	if b.num != a.num+1 {
		return false
	}
	if padded(a.digits) || padded(b.digits) {
		return len(a.digits) == len(b.digits)
	}
	return true
}

func padded(digits string) bool { return len(digits) > 1 && digits[0] == '0' }

// splitLastNumber splits name around its last run of ASCII digits.
func splitLastNumber(name string) (prefix, digits, suffix string, ok bool) {
	end := -1
	for i := len(name) - 1; i >= 0; i-- {
		if isDigit(name[i]) {
			end = i + 1
			break
		}
	}
	if end < 0 {
		return "", "", "", false
	}
	start := end - 1
	for start > 0 && isDigit(name[start-1]) {
		start--
	}
	return name[:start], name[start:end], name[end:], true
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }
