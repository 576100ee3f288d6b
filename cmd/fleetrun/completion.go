package main

import (
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/fleetrun/fleetrun/inventory"
	"github.com/fleetrun/fleetrun/sim"
)

// Shell completion: cobra generates the scripts (fleetrun completion SHELL)
// and answers them through its hidden __complete command; this file says
// what each argument and flag value completes to.

// maxCompletionFile bounds each file completion reads (an inventory, a
// scenario): completion runs on every Tab press and must answer at once.
const maxCompletionFile = 1 << 20

// completionShells are the shells fleetrun completion writes scripts for.
var completionShells = []string{"bash", "zsh", "fish", "powershell"}

func newCompletionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "completion bash|zsh|fish|powershell",
		Short: "Print the shell completion script for fleetrun",
		Long: `Completion prints a script that makes the shell complete fleetrun's commands,
flags, flag values with fixed choices (--output, sim --profile, ...),
playbook and inventory files (YAML), and, for --limit, the host names, @group
names and tag=value terms of the inventories given with -i on the same command
line (static and simulated inventories; EC2 inventories contribute only their
static part: completion never calls AWS).

Bash (needs the bash-completion package):
  current shell:  source <(fleetrun completion bash)
  every shell:    fleetrun completion bash > ~/.local/share/bash-completion/completions/fleetrun
Zsh:
  if not yet done, enable completion once:  echo "autoload -U compinit; compinit" >> ~/.zshrc
  current shell:  source <(fleetrun completion zsh)
  every shell:    fleetrun completion zsh > "${fpath[1]}/_fleetrun"   (then start a new shell)
Fish:
  current shell:  fleetrun completion fish | source
  every shell:    fleetrun completion fish > ~/.config/fish/completions/fleetrun.fish
PowerShell:
  current shell:  fleetrun completion powershell | Out-String | Invoke-Expression
  every shell:    add that line to the file $PROFILE names`,
		Example:               "  source <(fleetrun completion bash)",
		Args:                  cobra.MatchAll(cobra.ExactArgs(1), cobra.OnlyValidArgs),
		ValidArgs:             completionShells,
		DisableFlagsInUseLine: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			root, w := cmd.Root(), cmd.OutOrStdout()
			switch args[0] {
			case "bash":
				return root.GenBashCompletionV2(w, true)
			case "zsh":
				return root.GenZshCompletion(w)
			case "fish":
				return root.GenFishCompletion(w, true)
			default:
				return root.GenPowerShellCompletionWithDesc(w)
			}
		},
	}
}

// registerCompletions attaches value completions to every command under
// root by flag name, so a command added later with the same flags
// completes the same way. Flags it does not know complete file names when
// their value is a FILE or DIR, else nothing.
func registerCompletions(root *cobra.Command) {
	yaml := fileExts("yaml", "yml")
	byFlag := map[string]cobra.CompletionFunc{
		"inventory":       yaml,
		"playbook":        yaml,
		"scenario":        yaml,
		"write-inventory": yaml,
		"limit":           completeLimit,
		"output":          cobra.FixedCompletions([]string{"text", "json"}, cobra.ShellCompDirectiveNoFileComp),
		"report":          fileExts("json"),
		"junit":           fileExts("xml"),
		"html":            fileExts("html"),
		"journal":         fileExts("journal"),
		"resume":          fileExts("journal"),
		"log-dir":         dirsOnly,
	}
	byArgs := map[string]cobra.CompletionFunc{
		"apply":    firstArg(yaml),
		"validate": firstArg(yaml),
		"report":   firstArg(fileExts("json")),
	}
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		if c.ValidArgsFunction == nil && len(c.ValidArgs) == 0 && c.Name() != "help" {
			if f, ok := byArgs[c.Name()]; ok {
				c.ValidArgsFunction = f
			} else if c.HasParent() && !c.HasAvailableSubCommands() {
				c.ValidArgsFunction = cobra.NoFileCompletions
			}
		}
		c.LocalFlags().VisitAll(func(fl *pflag.Flag) {
			if _, taken := c.GetFlagCompletionFunc(fl.Name); taken || fl.Value.Type() == "bool" {
				return
			}
			f, ok := byFlag[fl.Name]
			switch {
			case c.Name() == "sim" && fl.Name == "profile":
				f = cobra.FixedCompletions(sim.ProfileNames(), cobra.ShellCompDirectiveNoFileComp)
			case ok:
			default:
				if varname, _ := pflag.UnquoteUsage(fl); varname == "FILE" || varname == "DIR" {
					return // the shell's file names
				}
				f = cobra.NoFileCompletions
			}
			// The name is a flag of c, and nothing registered it before.
			_ = c.RegisterFlagCompletionFunc(fl.Name, f)
		})
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
}

// fileExts completes file names with one of the extensions (and folders).
func fileExts(exts ...string) cobra.CompletionFunc {
	return func(*cobra.Command, []string, string) ([]cobra.Completion, cobra.ShellCompDirective) {
		return exts, cobra.ShellCompDirectiveFilterFileExt
	}
}

func dirsOnly(*cobra.Command, []string, string) ([]cobra.Completion, cobra.ShellCompDirective) {
	return nil, cobra.ShellCompDirectiveFilterDirs
}

// firstArg completes the first positional argument with f, and nothing
// after it.
func firstArg(f cobra.CompletionFunc) cobra.CompletionFunc {
	return func(c *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		if len(args) > 0 {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		return f(c, args, toComplete)
	}
}

// completeLimit completes the last term of a --limit selector (after the
// last comma, after a leading !) from the inventories given with -i: host
// names, @groups and tag=value terms. An inventory that cannot be read
// completes nothing, silently: completion must never print or hang.
func completeLimit(c *cobra.Command, _ []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
	none := cobra.ShellCompDirectiveNoFileComp
	files, err := c.Flags().GetStringArray("inventory")
	if err != nil || len(files) == 0 {
		return nil, none
	}
	// cobra's __complete parses the command line's flags twice, and a
	// StringArray appends: every -i arrives twice.
	files = slices.Compact(slices.Clone(files))
	if n := len(files); n%2 == 0 && slices.Equal(files[:n/2], files[n/2:]) {
		files = files[:n/2]
	}
	terms, ok := selectorTerms(files)
	if !ok {
		return nil, none
	}
	head, cur := "", toComplete
	if i := strings.LastIndexByte(toComplete, ','); i >= 0 {
		head, cur = toComplete[:i+1], toComplete[i+1:]
	}
	if strings.HasPrefix(cur, "!") {
		head, cur = head+"!", cur[1:]
	}
	var out []cobra.Completion
	for _, t := range terms {
		if strings.HasPrefix(t, cur) {
			out = append(out, head+t)
		}
	}
	return out, none
}

// selectorTerms lists, sorted, the host names, @groups and tag=value terms
// of the inventory files: static hosts, and the hosts a simulated: section
// would start (named as sim names them). EC2 sections are never resolved.
// ok is false when a file is missing, not a regular file, larger than
// maxCompletionFile or invalid.
func selectorTerms(files []string) (terms []string, ok bool) {
	for _, f := range files {
		if !smallRegularFile(f) {
			return nil, false
		}
	}
	inv, err := inventory.LoadAll(files)
	if err != nil {
		return nil, false
	}
	set := map[string]bool{}
	addTags := func(tags map[string]string) {
		for k, v := range tags {
			set[k+"="+v] = true
		}
	}
	for _, h := range inv.Hosts {
		set[h.Name] = true
		for _, g := range h.Groups {
			set["@"+g] = true
		}
		addTags(h.Tags)
	}
	for _, l := range inv.Layers {
		for g := range l.Groups {
			set["@"+g] = true
		}
	}
	if s := inv.Simulated; s != nil {
		simulatedTerms(s, inv.Layers, set)
	}
	return slices.Sorted(maps.Keys(set)), true
}

// simulatedTerms adds the names and tags of the hosts a simulated: section
// declares, without starting them: sim-0001 onwards (the fleet's or its
// scenario's count), and the tags the fleet's inventory gives them
// (simulated=true, profile=..., group=... and the scenario's tags).
func simulatedTerms(s *inventory.Simulated, layers []*inventory.Layer, set map[string]bool) {
	var sc *sim.Scenario
	if s.Scenario != "" && smallRegularFile(s.Scenario) {
		sc, _ = sim.LoadScenario(s.Scenario) // an unreadable scenario only loses its tags
	}
	n := s.Hosts
	if n == 0 && sc != nil {
		n = sc.Hosts
	}
	for i := 1; i <= min(n, sim.MaxHosts); i++ {
		set[fmt.Sprintf("sim-%04d", i)] = true
	}
	set["simulated=true"] = true
	if p, err := sim.LookupProfile(s.Profile); err == nil {
		set["profile="+p.Name] = true
	}
	if sc != nil {
		settings := []*sim.Settings{&sc.Defaults}
		for i := range sc.Groups {
			set["group="+sc.Groups[i].Name] = true
			settings = append(settings, &sc.Groups[i].Settings)
		}
		for _, name := range slices.Sorted(maps.Keys(sc.HostOverrides)) {
			o := sc.HostOverrides[name]
			settings = append(settings, &o)
		}
		for _, st := range settings {
			if st.Profile != nil {
				set["profile="+*st.Profile] = true
			}
			for k, v := range st.Tags {
				set[k+"="+v] = true
			}
		}
	}
	for _, l := range layers {
		for k, v := range l.Defaults.Tags {
			set[k+"="+v] = true
		}
	}
}

// smallRegularFile reports whether path is a regular file completion may
// read: never a FIFO or device (reading one could block), never a file
// larger than maxCompletionFile.
func smallRegularFile(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular() && fi.Size() <= maxCompletionFile
}
