package sim

import (
	"strconv"
	"strings"
	"time"
)

// get answers WS-Transfer Get on the WinRM configuration and on
// Win32_OperatingSystem.
func (h *Host) get(req *Request) (result, *Fault) {
	h.mu.Lock()
	q := h.quotas
	boot := h.bootTime
	h.mu.Unlock()
	var w response
	w.begin(nsDeclX+nsDeclW+nsDeclP, ActionGet+"Response", req.MessageID, newMessageID())
	switch uri := strings.TrimRight(req.ResourceURI, "/"); {
	case strings.EqualFold(uri, ResourceConfig):
		h.writeConfig(&w, q)
	case strings.EqualFold(uri, ResourceWinrs):
		w.raw(`<cfg:Winrs xmlns:cfg="` + ResourceWinrs + `">`)
		writeWinrs(&w, q)
		w.raw(`</cfg:Winrs>`)
	case strings.EqualFold(uri, ResourceWin32OS):
		h.writeOS(&w, boot)
	default:
		return result{}, faultUnknownResource(req.ResourceURI)
	}
	return result{body: w.end()}, nil
}

func boolText(b bool) string { return strconv.FormatBool(b) }

// writeConfig renders cfg:Config with the layout of the recorded Windows
// answers.
func (h *Host) writeConfig(w *response, q Quotas) {
	w.raw(`<cfg:Config xmlns:cfg="` + nsConfig + `">`)
	w.elem("cfg:MaxEnvelopeSizekb", strconv.Itoa(q.MaxEnvelopeSizeKB))
	w.elem("cfg:MaxTimeoutms", ms(q.MaxTimeout))
	w.raw(`<cfg:MaxBatchItems>32000</cfg:MaxBatchItems><cfg:MaxProviderRequests>4294967295</cfg:MaxProviderRequests>`)
	w.raw(`<cfg:Client><cfg:NetworkDelayms>5000</cfg:NetworkDelayms><cfg:URLPrefix>wsman</cfg:URLPrefix><cfg:AllowUnencrypted>false</cfg:AllowUnencrypted>`)
	w.raw(`<cfg:Auth><cfg:Basic>true</cfg:Basic><cfg:Digest>true</cfg:Digest><cfg:Kerberos>true</cfg:Kerberos><cfg:Negotiate>true</cfg:Negotiate><cfg:Certificate>true</cfg:Certificate><cfg:CredSSP>false</cfg:CredSSP></cfg:Auth>`)
	w.raw(`<cfg:DefaultPorts><cfg:HTTP>5985</cfg:HTTP><cfg:HTTPS>5986</cfg:HTTPS></cfg:DefaultPorts><cfg:TrustedHosts></cfg:TrustedHosts></cfg:Client>`)
	w.raw(`<cfg:Service><cfg:RootSDDL>O:NSG:BAD:P(A;;GA;;;BA)(A;;GR;;;IU)S:P(AU;FA;GA;;;WD)(AU;SA;GXGW;;;WD)</cfg:RootSDDL><cfg:MaxConcurrentOperations>4294967295</cfg:MaxConcurrentOperations>`)
	w.elem("cfg:MaxConcurrentOperationsPerUser", strconv.Itoa(q.MaxConcurrentOperationsPerUser))
	w.raw(`<cfg:EnumerationTimeoutms>240000</cfg:EnumerationTimeoutms><cfg:MaxConnections>300</cfg:MaxConnections><cfg:MaxPacketRetrievalTimeSeconds>120</cfg:MaxPacketRetrievalTimeSeconds>`)
	w.elem("cfg:AllowUnencrypted", boolText(h.cfg.AllowUnencrypted))
	w.raw(`<cfg:Auth>`)
	w.elem("cfg:Basic", boolText(h.cfg.Basic))
	w.raw(`<cfg:Kerberos>true</cfg:Kerberos>`)
	w.elem("cfg:Negotiate", boolText(h.cfg.Negotiate))
	w.raw(`<cfg:Certificate>false</cfg:Certificate><cfg:CredSSP>false</cfg:CredSSP><cfg:CbtHardeningLevel>Relaxed</cfg:CbtHardeningLevel></cfg:Auth>`)
	w.raw(`<cfg:DefaultPorts><cfg:HTTP>5985</cfg:HTTP><cfg:HTTPS>5986</cfg:HTTPS></cfg:DefaultPorts><cfg:IPv4Filter>*</cfg:IPv4Filter><cfg:IPv6Filter>*</cfg:IPv6Filter>`)
	w.raw(`<cfg:EnableCompatibilityHttpListener>false</cfg:EnableCompatibilityHttpListener><cfg:EnableCompatibilityHttpsListener>false</cfg:EnableCompatibilityHttpsListener><cfg:CertificateThumbprint></cfg:CertificateThumbprint><cfg:AllowRemoteAccess>true</cfg:AllowRemoteAccess></cfg:Service>`)
	w.raw(`<cfg:Winrs>`)
	writeWinrs(w, q)
	w.raw(`</cfg:Winrs></cfg:Config>`)
}

// writeWinrs renders the seven winrs settings in Windows' order.
func writeWinrs(w *response, q Quotas) {
	for _, kv := range winrsSettings(q) {
		w.elem("cfg:"+kv[0], kv[1])
	}
}

// winrsSettings lists winrm/config/winrs in Windows' order.
func winrsSettings(q Quotas) [][2]string {
	return [][2]string{
		{"AllowRemoteShellAccess", boolText(q.AllowRemoteShellAccess)},
		{"IdleTimeout", ms(q.IdleTimeout)},
		{"MaxConcurrentUsers", strconv.Itoa(q.MaxConcurrentUsers)},
		{"MaxShellRunTime", ms(q.MaxShellRunTime)},
		{"MaxProcessesPerShell", strconv.Itoa(q.MaxProcessesPerShell)},
		{"MaxMemoryPerShellMB", strconv.Itoa(q.MaxMemoryPerShellMB)},
		{"MaxShellsPerUser", strconv.Itoa(q.MaxShellsPerUser)},
	}
}

// writeOS renders a Win32_OperatingSystem instance: the properties
// fleetrun and common tools read. Dates use the cim:Datetime wrapper.
func (h *Host) writeOS(w *response, boot time.Time) {
	p := h.cfg.Profile
	now := h.clock.Now()
	w.raw(`<p:Win32_OperatingSystem xmlns:p="` + ResourceWin32OS + `" xmlns:xsi="` + nsXSI + `" xmlns:cim="` + nsCIM + `" xsi:type="p:Win32_OperatingSystem_Type" xml:lang="en-US">`)
	w.raw(`<p:BootDevice>\Device\HarddiskVolume1</p:BootDevice>`)
	w.elem("p:BuildNumber", p.BuildNumber)
	w.raw(`<p:BuildType>Multiprocessor Free</p:BuildType>`)
	w.elem("p:Caption", p.Caption)
	w.raw(`<p:CodeSet>`)
	if h.cfg.OutputEncoding == "cp932" {
		w.raw(`932`)
	} else {
		w.raw(`1252`)
	}
	w.raw(`</p:CodeSet>`)
	w.elem("p:CSName", strings.ToUpper(h.cfg.Name))
	w.raw(`<p:FreePhysicalMemory>6291456</p:FreePhysicalMemory>`)
	w.raw(`<p:LastBootUpTime><cim:Datetime>`)
	w.raw(boot.UTC().Format("2006-01-02T15:04:05.000000Z"))
	w.raw(`</cim:Datetime></p:LastBootUpTime><p:LocalDateTime><cim:Datetime>`)
	w.raw(now.UTC().Format("2006-01-02T15:04:05.000000Z"))
	w.raw(`</cim:Datetime></p:LocalDateTime>`)
	w.raw(`<p:Manufacturer>Microsoft Corporation</p:Manufacturer><p:OSArchitecture>64-bit</p:OSArchitecture>`)
	if h.cfg.OutputEncoding == "cp932" {
		w.raw(`<p:OSLanguage>1041</p:OSLanguage>`)
	} else {
		w.raw(`<p:OSLanguage>1033</p:OSLanguage>`)
	}
	w.raw(`<p:OSType>18</p:OSType><p:ProductType>3</p:ProductType>`)
	w.raw(`<p:SystemDirectory>C:\Windows\system32</p:SystemDirectory><p:SystemDrive>C:</p:SystemDrive>`)
	w.raw(`<p:TotalVisibleMemorySize>8388608</p:TotalVisibleMemorySize>`)
	w.elem("p:Version", p.Version)
	w.raw(`<p:WindowsDirectory>C:\Windows</p:WindowsDirectory></p:Win32_OperatingSystem>`)
}
