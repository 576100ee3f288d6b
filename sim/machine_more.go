package sim

import (
	"sort"
	"strings"
	"time"
)

// More of the machine state, for the programs that read and change it
// (reg, sc, systeminfo, dism).

// installDate is when Windows was installed: well before the updates the
// scenario says are installed (dated 30 days before the host started).
func (m *machine) installDate() time.Time { return m.built.Add(-90 * 24 * time.Hour) }

// computedKeys are the keys the machine computes from its state, which
// exist only while a restart is pending; their parents always exist on
// Windows.
var computedKeys = []string{regCBSRebootPending, regWURebootRequired}

// registryKeyInfo is one key as reg.exe shows it: its values and the names
// of its direct subkeys, both sorted case-insensitively (the registry keeps
// subkeys sorted; values are listed here by name too). ok is false for a
// key that does not exist.
func (m *machine) registryKeyInfo(path string) (values []RegValue, subkeys []string, ok bool) {
	key := canonRegPath(path)
	_, values, ok = m.RegistryKey(key)
	lower := strings.ToLower(key) + `\`
	pending := m.RebootPending()
	seen := map[string]bool{}
	add := func(full string) {
		if !strings.HasPrefix(strings.ToLower(full), lower) {
			return
		}
		name, _, _ := strings.Cut(full[len(lower):], `\`)
		if name == "" || seen[strings.ToLower(name)] {
			return
		}
		seen[strings.ToLower(name)] = true
		subkeys = append(subkeys, name)
	}
	for _, c := range computedKeys {
		if strings.HasPrefix(strings.ToLower(c), lower) {
			ok = true // a parent of a computed key
			if pending || strings.Contains(c[len(lower):], `\`) {
				add(c)
			}
		}
	}
	m.mu.Lock()
	for _, k := range m.registry {
		add(k.path)
	}
	m.mu.Unlock()
	sort.Slice(subkeys, func(i, j int) bool { return strings.ToLower(subkeys[i]) < strings.ToLower(subkeys[j]) })
	return values, subkeys, ok
}

// setServiceRunning starts or stops a service. It returns the service as
// it was before, and false when there is no such service.
func (m *machine) setServiceRunning(name string, running bool) (Service, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s, ok := m.services[strings.ToLower(name)]
	if !ok {
		return Service{}, false
	}
	before := *s
	s.Running = running
	return before, true
}
