package sim

import (
	"context"
	"net/http"
)

// A network cut: the host keeps running — its processes and scheduled
// tasks go on — but nothing it sends or receives gets through, as when a
// link, a VPN or a security group drops the traffic: connections are
// accepted (loopback cannot drop a SYN) and then get no answer, requests
// are not processed, and an answer computed when the cut begins is lost.
// When the cut ends, connections it held are closed without an answer, as
// TCP gives up on them, and new ones are served again.

// SetNetworkCut starts (on) or ends (off) a network cut of the host.
func (h *Host) SetNetworkCut(on bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if on == h.cut {
		return
	}
	h.cut = on
	if on {
		close(h.cutOn)
		h.cutOff = make(chan struct{})
		h.stats.count(&h.stats.requests, "network_cut")
		return
	}
	close(h.cutOff)
	h.cutOn = make(chan struct{})
}

// SetNetworkCut starts or ends a network cut of every host of the fleet.
func (f *Fleet) SetNetworkCut(on bool) {
	for _, h := range f.hosts {
		h.SetNetworkCut(on)
	}
}

// cutChannels returns a channel closed while a cut is on and one closed
// while it is off.
func (h *Host) cutChannels() (on, off <-chan struct{}) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.cutOn, h.cutOff
}

// isCut reports whether a network cut is on.
func (h *Host) isCut() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.cut
}

// holdDuringCut keeps a request that arrives during a cut unanswered until
// the cut ends (or the request or host does), then drops its connection
// without an answer. It returns false when the request may be served.
func (h *Host) holdDuringCut(ctx context.Context) bool {
	_, off := h.cutChannels()
	select {
	case <-off:
		return false
	default:
	}
	h.stats.count(&h.stats.requests, "unanswered_in_cut")
	h.notifyChange()
	select {
	case <-off:
	case <-ctx.Done():
	case <-h.closing:
	}
	dropConnection()
	return true
}

// dropConnection ends the handler without an answer and closes the
// connection (net/http's way to abort a response).
func dropConnection() { panic(http.ErrAbortHandler) }
