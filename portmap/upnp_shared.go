package portmap

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// ErrUPnPOmitted: this build (licgate_omit_upnp, the router build) has no
// UPnP IGD client; see UPnPBuilt.
var ErrUPnPOmitted = errors.New("UPnP is not in this build (licgate_omit_upnp): use pcp or natpmp, or the full build")

// parseSSDP reads the LOCATION of an SSDP answer for an IGD.
func parseSSDP(b []byte) (*url.URL, error) {
	resp, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(b)), nil)
	if err != nil {
		return nil, fmt.Errorf("%w: ssdp answer: %v", ErrMalformed, err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		return nil, fmt.Errorf("%w: ssdp status %d", ErrMalformed, resp.StatusCode)
	}
	if st := resp.Header.Get("St"); !strings.Contains(st, ":InternetGatewayDevice:") {
		return nil, fmt.Errorf("%w: ssdp answer for %q", ErrMalformed, st)
	}
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil || loc.Scheme != "http" || loc.Host == "" {
		return nil, fmt.Errorf("%w: ssdp location %q", ErrMalformed, resp.Header.Get("Location"))
	}
	return loc, nil
}
