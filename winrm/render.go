package winrm

import (
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/fleetrun/fleetrun/launcher"
	"github.com/fleetrun/fleetrun/transport"
)

// Every host of a run sends the same steps, and rendering a step for the
// launcher (its JSON payload, base64, the launcher text with the payload
// in it, then UTF-16 and base64 again for -EncodedCommand) was a tenth of
// the controller's CPU and a sixth of its allocations, for the same
// result on every host. launcher.Render is a pure function of the step's
// kind, program, line, script, environment and working directory and of
// the options, so the renderings of recent steps are kept and shared. The
// cache is small and fixed: steps whose templates differ per host miss it
// and cost what they always did, and it never holds more than
// renderCacheSize renderings.

// renderCacheSize is how many renderings the cache keeps: more than the
// distinct steps a playbook runs at once.
const renderCacheSize = 64

type renderCache struct {
	mu      sync.Mutex
	entries map[string]launcher.Rendered
	order   []string // keys in insertion order, oldest first
}

var renders = &renderCache{entries: make(map[string]launcher.Rendered, renderCacheSize)}

// renderLauncher is launcher.Render through the cache. Failures are not
// kept: they are rendered (and reported) again.
func renderLauncher(cmd transport.Command, opts launcher.RenderOptions) (launcher.Rendered, error) {
	return renders.through(renderKey(cmd, opts), func() (launcher.Rendered, error) { return launcher.Render(cmd, opts) })
}

// through returns the rendering kept under key, or renders it and keeps
// it. Failures are not kept. The caller gets a RemoteCommand slice of its
// own, as from the launcher's functions.
func (c *renderCache) through(key string, render func() (launcher.Rendered, error)) (launcher.Rendered, error) {
	c.mu.Lock()
	r, ok := c.entries[key]
	c.mu.Unlock()
	if !ok {
		var err error
		if r, err = render(); err != nil {
			return r, err
		}
		c.put(key, r)
	}
	r.RemoteCommand = slices.Clone(r.RemoteCommand)
	return r, nil
}

func (c *renderCache) put(key string, r launcher.Rendered) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.entries[key]; ok {
		return
	}
	if len(c.order) >= renderCacheSize {
		delete(c.entries, c.order[0])
		c.order = c.order[1:]
	}
	c.entries[key] = r
	c.order = append(c.order, key)
}

// renderKey spells out everything launcher.Render reads, each field with
// its length, so that two different steps never share a key (an argument
// holding a separator included).
func renderKey(cmd transport.Command, opts launcher.RenderOptions) string {
	var b strings.Builder
	writeCommandKey(&b, cmd)
	b.WriteString(strconv.Itoa(opts.MaxCommandLine))
	b.WriteByte('/')
	b.WriteString(strconv.FormatBool(opts.ForceStdin))
	return b.String()
}

// writeCommandKey writes the fields of cmd the launcher renders (kind,
// script, line, working directory, argv, environment), each with its
// length.
func writeCommandKey(b *strings.Builder, cmd transport.Command) {
	field := func(s string) {
		b.WriteString(strconv.Itoa(len(s)))
		b.WriteByte(':')
		b.WriteString(s)
	}
	field(string(cmd.Kind))
	field(cmd.Script)
	field(cmd.Line)
	field(cmd.Workdir)
	b.WriteString(strconv.Itoa(len(cmd.Argv)))
	b.WriteByte('a')
	for _, a := range cmd.Argv {
		field(a)
	}
	// A nil and an empty environment render alike; the names are sorted
	// so that the map's order does not matter.
	names := make([]string, 0, len(cmd.Env))
	for k := range cmd.Env {
		names = append(names, k)
	}
	slices.Sort(names)
	b.WriteString(strconv.Itoa(len(names)))
	b.WriteByte('e')
	for _, k := range names {
		field(k)
		field(cmd.Env[k])
	}
}
