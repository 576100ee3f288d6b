package sim

// preflightFacts is what fleetrun's preflight script prints, in the order
// it prints it, computed from the host's state. The script runs in a WinRS
// shell, so the facts are those of a network logon of the host's account.
type preflightFacts struct {
	PSVersion         string `json:"ps_version"`
	Is64BitProcess    bool   `json:"is64bit_process"`
	Is64BitOS         bool   `json:"is64bit_os"`
	ExecutionPolicy64 string `json:"execution_policy_64"`
	ExecutionPolicy32 string `json:"execution_policy_32"`
	SystemDrive       string `json:"system_drive"`
	DiskFreeBytes     int64  `json:"disk_free_bytes"`
	DiskTotalBytes    int64  `json:"disk_total_bytes"`
	// IsAdmin is WindowsPrincipal.IsInRole(Administrator) for the
	// session's token: false for an account outside Administrators, and
	// for a local administrator whose token UAC filtered (KB 951016) and
	// who got in through Remote Management Users.
	IsAdmin bool `json:"is_admin"`
	// TaskScheduler is (Get-Service Schedule).Status, "" when the host has
	// no such service.
	TaskScheduler string `json:"task_scheduler"`
}

func (h *Host) preflightFacts() preflightFacts {
	pf := h.cfg.Preflight
	f := preflightFacts{
		PSVersion: h.psVersion(), Is64BitProcess: true, Is64BitOS: true,
		ExecutionPolicy64: pf.ExecutionPolicy64, ExecutionPolicy32: pf.ExecutionPolicy32,
		SystemDrive: pf.SystemDrive, DiskFreeBytes: pf.DiskFreeBytes, DiskTotalBytes: pf.DiskTotalBytes,
		IsAdmin: h.cfg.Account.admin(),
	}
	if s, ok := h.machine.Service("Schedule"); ok {
		f.TaskScheduler = s.Status()
	}
	return f
}
