package psmodel

import (
	"strings"
)

// view is how objects of a type format at the end of a pipeline: a
// table of columns (optionally grouped under a header line) or a list.
type view struct {
	list  bool
	cols  []column
	group func(o *Object) string
}

// column is one table column; width 0 sizes it to its content.
type column struct {
	label string
	width int
	right bool
	get   func(o *Object) any
}

// formatted is text a Format-* cmdlet produced.
type formatted struct{ text string }

// needsView reports whether a value is formatted as a table or list
// rather than written as its string.
func needsView(v any) bool {
	switch v.(type) {
	case *Object, *Hashtable, Version, TimeSpan, DateTime, *TypeValue:
		return true
	}
	return false
}

// shapeOf groups values that format together.
func shapeOf(v any) string {
	switch o := v.(type) {
	case *Object:
		if o.view != nil && len(o.view.cols) > 0 {
			return o.typeName()
		}
		return o.typeName() + "|" + strings.Join(o.names(), ",")
	case *Hashtable:
		return "hashtable"
	}
	return typeNameOf(v)
}

// outString formats items as Out-String does.
func outString(items []any) string {
	var b strings.Builder
	var group []any
	flush := func() {
		if len(group) > 0 {
			b.WriteString(formatDefault(group))
			group = nil
		}
	}
	for _, v := range items {
		switch x := v.(type) {
		case nil:
			continue
		case *formatted:
			flush()
			b.WriteString(x.text)
			continue
		case *ErrorRecord:
			flush()
			b.WriteString(strings.Join(x.View(), ""))
			continue
		}
		if !needsView(v) {
			flush()
			b.WriteString(toStr(v) + "\r\n")
			continue
		}
		if len(group) > 0 && shapeOf(group[0]) != shapeOf(v) {
			flush()
		}
		group = append(group, v)
	}
	flush()
	return b.String()
}

// cell renders a value inside a table or list.
func cell(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case DateTime:
		s, _ := formatDate(x.T, "G")
		return s
	case []any:
		parts := make([]string, 0, len(x))
		for i, e := range x {
			if i == 4 {
				parts = append(parts, "...")
				break
			}
			if isCollection(e) {
				parts = append(parts, typeNameOf(e))
				continue
			}
			parts = append(parts, cell(e))
		}
		return "{" + strings.Join(parts, ", ") + "}"
	case *Hashtable:
		parts := make([]string, 0, len(x.keys))
		for _, k := range x.keys {
			parts = append(parts, toStr(k))
		}
		return "{" + strings.Join(parts, ", ") + "}"
	}
	return strings.ReplaceAll(strings.ReplaceAll(toStr(v), "\r", ""), "\n", " ")
}

func runeLen(s string) int { return len([]rune(s)) }

// fit cuts s to w characters with "..." as Windows PowerShell 5.1's
// table formatting does.
func fit(s string, w int) string {
	r := []rune(s)
	if w <= 0 || len(r) <= w {
		return s
	}
	if w <= 3 {
		return string(r[:w])
	}
	return string(r[:w-3]) + "..."
}

func pad(s string, w int, right bool) string {
	n := runeLen(s)
	if n >= w {
		return s
	}
	if right {
		return strings.Repeat(" ", w-n) + s
	}
	return s + strings.Repeat(" ", w-n)
}

// formatDefault formats a group of values of one shape as Out-Default
// does.
func formatDefault(items []any) string {
	switch first := items[0].(type) {
	case *Object:
		if first.view != nil {
			if first.view.list {
				return renderList(items, nil)
			}
			return renderTable(items, first.view, false)
		}
		if len(first.props) > 4 {
			return renderList(items, nil)
		}
		return renderTable(items, autoView(first.names()), false)
	case *Hashtable:
		var rows []any
		for _, v := range items {
			h := v.(*Hashtable)
			for i, k := range h.keys {
				o := &Object{}
				o.add("Name", k).add("Value", h.vals[i])
				rows = append(rows, o)
			}
		}
		if len(rows) == 0 {
			return ""
		}
		// The view Windows PowerShell's format data gives a hashtable's
		// entries (DictionaryEntry): Name in 30 characters, then Value.
		return renderTable(rows, &view{cols: []column{
			{label: "Name", width: 30, get: func(o *Object) any { v, _ := o.Prop("Name"); return v }},
			{label: "Value", width: -1, get: func(o *Object) any { v, _ := o.Prop("Value"); return v }},
		}}, false)
	case Version:
		var rows []any
		for _, v := range items {
			ver := v.(Version)
			o := &Object{}
			o.add("Major", ver.Major).add("Minor", ver.Minor).add("Build", ver.Build).add("Revision", ver.Revision)
			rows = append(rows, o)
		}
		return renderTable(rows, autoViewLeft([]string{"Major", "Minor", "Build", "Revision"}), false)
	case DateTime:
		var b strings.Builder
		for _, v := range items {
			s, _ := formatDate(v.(DateTime).T, "F")
			b.WriteString("\r\n" + s + "\r\n\r\n\r\n")
		}
		return b.String()
	case TimeSpan:
		var rows []any
		for _, v := range items {
			d := v.(TimeSpan)
			o := &Object{}
			for _, n := range []string{"Days", "Hours", "Minutes", "Seconds", "Milliseconds", "TotalDays", "TotalHours", "TotalMinutes", "TotalSeconds", "TotalMilliseconds"} {
				x, _ := spanMember(d, strings.ToLower(n), nil, Extent{})
				o.add(n, x)
			}
			rows = append(rows, o)
		}
		return renderList(rows, nil)
	case *TypeValue:
		var b strings.Builder
		for _, v := range items {
			b.WriteString(v.(*TypeValue).Info.Name + "\r\n")
		}
		return b.String()
	}
	var b strings.Builder
	for _, v := range items {
		b.WriteString(toStr(v) + "\r\n")
	}
	return b.String()
}

// autoView is a table of the named properties sized to the content.
func autoView(names []string) *view {
	v := &view{}
	for _, n := range names {
		n := n
		v.cols = append(v.cols, column{label: n, get: func(o *Object) any { x, _ := o.Prop(n); return x }})
	}
	return v
}

// autoViewLeft is autoView with numbers left-aligned (the Version view).
func autoViewLeft(names []string) *view {
	v := autoView(names)
	for i := range v.cols {
		v.cols[i].width = -1
	}
	return v
}

// renderTable renders a table: a blank line, the header, a row of
// dashes under each label, the rows, two blank lines. Groups (a
// directory listing) start with their header line.
func renderTable(items []any, v *view, hideHeader bool) string {
	var b strings.Builder
	start := 0
	for start < len(items) {
		end := start + 1
		groupName := ""
		if v.group != nil {
			groupName = v.group(items[start].(*Object))
			for end < len(items) && v.group(items[end].(*Object)) == groupName {
				end++
			}
		} else {
			end = len(items)
		}
		if groupName != "" {
			b.WriteString("\r\n\r\n" + groupName + "\r\n\r\n")
		}
		b.WriteString(renderRows(items[start:end], v, hideHeader))
		start = end
	}
	return b.String()
}

func renderRows(items []any, v *view, hideHeader bool) string {
	type col struct {
		column
		w     int
		right bool
	}
	cols := make([]col, len(v.cols))
	cells := make([][]string, len(items))
	for i, it := range items {
		o := it.(*Object)
		cells[i] = make([]string, len(v.cols))
		for j, c := range v.cols {
			val := c.get(o)
			cells[i][j] = cell(val)
			if isNumber(val) && c.width == 0 {
				cols[j].right = true
			}
		}
	}
	for j, c := range v.cols {
		cols[j].column = c
		cols[j].right = cols[j].right || c.right
		if c.width > 0 {
			cols[j].w = c.width
			continue
		}
		w := runeLen(c.label)
		for i := range items {
			w = max(w, runeLen(cells[i][j]))
		}
		cols[j].w = w
	}
	line := func(vals []string) string {
		var parts []string
		for j, s := range vals {
			c := cols[j]
			s = fit(s, c.w)
			if j == len(vals)-1 && !c.right {
				parts = append(parts, s)
				continue
			}
			parts = append(parts, pad(s, c.w, c.right))
		}
		return strings.TrimRight(strings.Join(parts, " "), " ")
	}
	var b strings.Builder
	b.WriteString("\r\n")
	if !hideHeader {
		labels := make([]string, len(cols))
		dashes := make([]string, len(cols))
		for j, c := range cols {
			labels[j] = c.label
			dashes[j] = strings.Repeat("-", runeLen(fit(c.label, c.w)))
		}
		b.WriteString(line(labels) + "\r\n")
		b.WriteString(line(dashes) + "\r\n")
	}
	for i := range items {
		b.WriteString(line(cells[i]) + "\r\n")
	}
	b.WriteString("\r\n\r\n")
	return b.String()
}

// renderList renders objects as "Name : Value" lines; props chooses the
// properties (all when nil).
func renderList(items []any, props []string) string {
	var b strings.Builder
	b.WriteString("\r\n")
	for _, it := range items {
		o, ok := it.(*Object)
		if !ok {
			b.WriteString("\r\n" + toStr(it) + "\r\n")
			continue
		}
		names := props
		if names == nil {
			names = o.names()
		}
		w := 0
		for _, n := range names {
			w = max(w, runeLen(n))
		}
		b.WriteString("\r\n")
		for _, n := range names {
			v, _ := o.Prop(n)
			b.WriteString(pad(n, w, false) + " : " + cell(v) + "\r\n")
		}
	}
	b.WriteString("\r\n\r\n")
	return b.String()
}

// formatExplicit is Format-Table and Format-List.
func formatExplicit(c *cmdCall, items []any, props []string, list bool) (string, error) {
	var objs []any
	var b strings.Builder
	for _, it := range items {
		o, ok := it.(*Object)
		if !ok {
			if h, isHash := it.(*Hashtable); isHash && props == nil {
				b.WriteString(formatDefault([]any{h}))
				continue
			}
			if !needsView(it) {
				b.WriteString(toStr(it) + "\r\n")
				continue
			}
			return "", c.notModelled()
		}
		for _, p := range props {
			if _, found := o.Prop(p); !found && o.Closed {
				return "", c.notModelled()
			}
		}
		objs = append(objs, o)
	}
	if len(objs) == 0 {
		return b.String(), nil
	}
	if list {
		b.WriteString(renderList(objs, props))
		return b.String(), nil
	}
	first := objs[0].(*Object)
	v := first.view
	if props != nil || v == nil || v.list || c.sw("AutoSize") {
		names := props
		if names == nil {
			if v != nil && !v.list {
				auto := &view{group: v.group}
				for _, col := range v.cols {
					col.width = 0
					auto.cols = append(auto.cols, col)
				}
				b.WriteString(renderTable(objs, auto, c.sw("HideTableHeaders")))
				return b.String(), nil
			}
			names = first.names()
		}
		v = autoView(names)
	}
	b.WriteString(renderTable(objs, v, c.sw("HideTableHeaders")))
	return b.String(), nil
}
