package sim

import (
	"bytes"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"gopkg.in/yaml.v3"
)

// recording is one file of recorded Windows traffic.
type recording struct {
	Messages []struct {
		Request  string `yaml:"request"`
		Response string `yaml:"response"`
	} `yaml:"messages"`
}

// replayScenarios describe the host that made a recording, where it
// matters for the answer: the 2008 R2 host of test_winrs_no_cmd_shell had
// its shell IdleTimeout raised to 7200000 ms.
var replayScenarios = map[string]string{
	"test_winrs_no_cmd_shell.yml": "defaults: {profile: 2008r2, quotas: {idle_timeout: 2h}}\n",
}

// replayStreams are the recordings whose output the simulator must
// reproduce byte for byte (the others print machine-specific text, such as
// `set`).
var replayStreams = map[string]bool{
	"test_winrs_standard.yml":          true,
	"test_winrs_stderr_rc.yml":         true,
	"test_winrs_unicode.yml":           true,
	"test_winrs_send.yml":              true,
	"test_winrs_operation_timeout.yml": true,
	"test_winrs_extra_opts.yml":        true,
	"test_winrs_no_cmd_shell.yml":      true,
}

var guidRE = regexp.MustCompile(`[0-9A-F]{8}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{12}`)

// TestReplayRecordings sends the requests of every recording to a simulated
// host and compares each answer with Windows' answer: elements,
// attributes, namespaces, fault codes and texts, exit codes and (where the
// command's output is not machine-specific) the streams. IDs, dates,
// machine names and addresses are not compared, and consecutive chunks of
// one stream are joined, since Windows' chunk boundaries are arbitrary.
func TestReplayRecordings(t *testing.T) {
	files, err := filepath.Glob("testdata/winrs-recordings/*.yml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no recordings: %v", err)
	}
	for _, file := range files {
		name := filepath.Base(file)
		t.Run(strings.TrimSuffix(name, ".yml"), func(t *testing.T) {
			t.Parallel()
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			var rec recording
			if err := yaml.Unmarshal(data, &rec); err != nil {
				t.Fatal(err)
			}
			clock := newTestClock()
			onPark := parkDriver(t, clock)
			sc := mustScenario(t, "defaults: {allow_unencrypted: true, user: vagrant}\n")
			if extra, ok := replayScenarios[name]; ok {
				own := mustScenario(t, extra)
				own.Defaults.AllowUnencrypted, own.Defaults.User = sc.Defaults.AllowUnencrypted, sc.Defaults.User
				sc = own
			}
			f := startFleet(t, FleetOptions{Hosts: 1, Clock: clock, onPark: onPark, Scenario: sc})
			h := f.Hosts()[0]
			ids := map[string]string{} // recorded ID → simulator's ID
			for i, m := range rec.Messages {
				clock.Advance(time.Millisecond) // time on the wire
				req := guidRE.ReplaceAllStringFunc(m.Request, func(id string) string {
					if sim, ok := ids[id]; ok {
						return sim
					}
					return id
				})
				status, body := post(t, f, h, req)
				want, err := parseTree(m.Response)
				if err != nil {
					t.Fatalf("message %d: recorded response: %v", i, err)
				}
				got, err := parseTree(body)
				if err != nil {
					t.Fatalf("message %d: simulator response (HTTP %d): %v\n%s", i, status, err, body)
				}
				if wantFault := want.find(nsSOAP, "Fault") != nil; wantFault != (status == http.StatusInternalServerError) {
					t.Errorf("message %d: HTTP status %d, recorded response is a fault: %v", i, status, wantFault)
				}
				if relates := got.find(nsAddr, "RelatesTo"); relates == nil || relates.text != messageIDOf(req) {
					t.Errorf("message %d: RelatesTo is not the request's MessageID %s", i, messageIDOf(req))
				}
				learnIDs(want, got, ids)
				compareStreams := replayStreams[name]
				normalize(want, compareStreams)
				normalize(got, compareStreams)
				if diff := cmp.Diff(want.String(), got.String()); diff != "" {
					t.Errorf("message %d (%s): response differs from Windows (-windows +sim):\n%s", i, actionOf(m.Request), diff)
				}
			}
		})
	}
}

// TestReplaySetPrintsShellEnvironment checks what replayStreams leaves
// out for the `set` recordings: the variables given at Create reach the
// command.
func TestReplaySetPrintsShellEnvironment(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile("testdata/winrs-recordings/test_winrs_environment.yml")
	if err != nil {
		t.Fatal(err)
	}
	var rec recording
	if err := yaml.Unmarshal(data, &rec); err != nil {
		t.Fatal(err)
	}
	f := startFleet(t, FleetOptions{Hosts: 1, Scenario: mustScenario(t, "defaults: {allow_unencrypted: true}\n")})
	h := f.Hosts()[0]
	ids := map[string]string{}
	var out string
	for _, m := range rec.Messages[:3] {
		req := guidRE.ReplaceAllStringFunc(m.Request, func(id string) string {
			if sim, ok := ids[id]; ok {
				return sim
			}
			return id
		})
		_, body := post(t, f, h, req)
		want, _ := parseTree(m.Response)
		got, err := parseTree(body)
		if err != nil {
			t.Fatal(err)
		}
		learnIDs(want, got, ids)
		for _, s := range got.findAll(nsShell, "Stream") {
			b, _ := base64.StdEncoding.DecodeString(s.text)
			out += string(b)
		}
	}
	for _, line := range []string{"env1=var1\r\n", "1234=5678\r\n", "COMPUTERNAME=SIM-0001\r\n"} {
		if !strings.Contains(out, line) {
			t.Errorf("set output lacks %q:\n%s", line, out)
		}
	}
}

// post sends one envelope with Basic authentication.
func post(t *testing.T, f *Fleet, h *Host, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, h.URL(), strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.SetBasicAuth(h.Config().User, f.Password())
	req.Header.Set("Content-Type", soapContentType)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST: %v", err)
	}
	defer func() { _ = resp.Body.Close() }()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(data)
}

func actionOf(req string) string {
	m := regexp.MustCompile(`Action[^>]*>([^<]*)<`).FindStringSubmatch(req)
	if m == nil {
		return "?"
	}
	return actionName(m[1])
}

func messageIDOf(req string) string {
	m := regexp.MustCompile(`MessageID>([^<]*)<`).FindStringSubmatch(req)
	if m == nil {
		return ""
	}
	return m[1]
}

// node is an XML element reduced to what the comparison looks at.
type node struct {
	space, local string
	attrs        map[string]string // "{ns}name" or "xmlns:p" → value
	children     []*node
	text         string
}

func parseTree(doc string) (*node, error) {
	dec := xml.NewDecoder(strings.NewReader(doc))
	var stack []*node
	var root *node
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		switch tk := tok.(type) {
		case xml.StartElement:
			n := &node{space: tk.Name.Space, local: tk.Name.Local, attrs: map[string]string{}}
			for _, a := range tk.Attr {
				key := a.Name.Local
				switch {
				case a.Name.Space == "xmlns":
					key = "xmlns:" + a.Name.Local
				case a.Name.Space != "":
					key = "{" + a.Name.Space + "}" + a.Name.Local
				}
				n.attrs[key] = a.Value
			}
			if len(stack) > 0 {
				p := stack[len(stack)-1]
				p.children = append(p.children, n)
			} else {
				root = n
			}
			stack = append(stack, n)
		case xml.EndElement:
			stack = stack[:len(stack)-1]
		case xml.CharData:
			if len(stack) > 0 {
				stack[len(stack)-1].text += string(tk)
			}
		}
	}
	if root == nil {
		return nil, fmt.Errorf("no root element in %q", doc)
	}
	return root, nil
}

func (n *node) find(space, local string) *node {
	if n.space == space && n.local == local {
		return n
	}
	for _, c := range n.children {
		if f := c.find(space, local); f != nil {
			return f
		}
	}
	return nil
}

func (n *node) findAll(space, local string) []*node {
	var out []*node
	if n.space == space && n.local == local {
		out = append(out, n)
	}
	for _, c := range n.children {
		out = append(out, c.findAll(space, local)...)
	}
	return out
}

// learnIDs maps the shell and command IDs Windows handed out to the
// simulator's.
func learnIDs(want, got *node, ids map[string]string) {
	for _, pair := range [][2]string{{nsWSMan, "Selector"}, {nsShell, "CommandId"}} {
		w, g := want.find(pair[0], pair[1]), got.find(pair[0], pair[1])
		if w != nil && g != nil {
			ids[strings.TrimSpace(w.text)] = strings.TrimSpace(g.text)
		}
	}
}

// ignoredText are elements whose text is an ID, a date, a machine name or
// an address.
var ignoredText = map[string]bool{
	nsAddr + " MessageID": true, nsAddr + " RelatesTo": true, nsAddr + " Address": true,
	nsWSMan + " Selector": true, nsShell + " ShellId": true, nsShell + " CommandId": true,
	nsShell + " Owner": true, nsShell + " ClientIP": true,
}

// normalize removes what the comparison ignores and joins stream chunks.
func normalize(n *node, streams bool) {
	var kept []*node
	for _, c := range n.children {
		if c.space == nsMSWSMan && c.local == "ActivityId" {
			continue // optional in Windows' own answers
		}
		kept = append(kept, c)
	}
	n.children = kept
	if ignoredText[n.space+" "+n.local] {
		n.text = ""
	}
	if n.space == nsConfig {
		n.text = "" // the recorded hosts had their own settings
	}
	delete(n.attrs, "CommandId")
	delete(n.attrs, "Machine")
	if n.space == nsShell && n.local == "ReceiveResponse" {
		n.children = joinStreams(n.children, streams)
	}
	for _, c := range n.children {
		normalize(c, streams)
	}
	if strings.TrimSpace(n.text) == "" {
		n.text = ""
	}
}

// joinStreams merges consecutive data chunks of one stream; with streams
// false the data itself is dropped.
func joinStreams(children []*node, streams bool) []*node {
	var out []*node
	for _, c := range children {
		isData := c.space == nsShell && c.local == "Stream" && c.attrs["End"] == ""
		if isData {
			data, _ := base64.StdEncoding.DecodeString(c.text)
			if n := len(out); n > 0 {
				prev := out[n-1]
				if prev.local == "Stream" && prev.attrs["End"] == "" && prev.attrs["Name"] == c.attrs["Name"] {
					prev.text += string(data)
					continue
				}
			}
			cp := *c
			cp.text = string(data)
			out = append(out, &cp)
			continue
		}
		out = append(out, c)
	}
	if !streams {
		for _, c := range out {
			if c.local == "Stream" {
				c.text = ""
			}
		}
	}
	return out
}

// String renders the tree one element per line, for diffs.
func (n *node) String() string {
	var b bytes.Buffer
	n.write(&b, 0)
	return b.String()
}

func (n *node) write(b *bytes.Buffer, depth int) {
	fmt.Fprintf(b, "%s{%s}%s", strings.Repeat("  ", depth), n.space, n.local)
	keys := make([]string, 0, len(n.attrs))
	for k := range n.attrs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(b, " %s=%q", k, n.attrs[k])
	}
	if n.text != "" {
		fmt.Fprintf(b, " text=%q", n.text)
	}
	b.WriteByte('\n')
	for _, c := range n.children {
		c.write(b, depth+1)
	}
}
