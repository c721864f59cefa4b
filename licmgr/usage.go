package licmgr

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Usage is a license server's own account of its seats: what
// `lmutil lmstat -a` or `rlmutil rlmstat -a` print.
type Usage struct {
	Manager Kind
	// Daemons are the vendor daemons (FlexNet) or ISV servers (RLM) the
	// status names, with their state and, for RLM, their port.
	Daemons []DaemonStatus
	// Features in the order the status lists them.
	Features []Feature
}

// DaemonStatus is one vendor daemon or ISV server.
type DaemonStatus struct {
	Name    string
	Port    int  // RLM's ISV table gives it; 0 for FlexNet
	Up      bool // "UP" / "Running Yes"
	Version string
}

// Feature is one feature (FlexNet) or product pool (RLM).
type Feature struct {
	Name    string
	Version string // the pool's version (RLM), or the first version block's (FlexNet)
	Vendor  string // vendor daemon or ISV
	// Total is the seats issued; -1 for uncounted licenses.
	Total int
	// InUse is the seats the server counts as taken (reservations
	// included, as lmstat counts them).
	InUse int
	// Reserved is the seats held by RESERVATION lines (FlexNet) or
	// "# reservations" (RLM).
	Reserved int
	Holders  []Holder
	// Error is the server's complaint about the feature ("1 licenses,
	// unsupported by licensed server"), when it prints one instead of counts.
	Error string
}

// Holder is one checkout.
type Holder struct {
	User, Host string
	// Display is FlexNet's display field (/dev/tty, a host name).
	Display string
	// Count is the seats this checkout holds (1 unless lmstat says "N licenses").
	Count int
	// Start is when it began, in the reference time's location; the status
	// gives no year, so the latest date not after the reference is taken.
	Start time.Time
	// Handle is the server's handle for the checkout (lmremove/rlmremove).
	Handle string
	// Server is the host/port the checkout is on, as printed ("host/27002").
	Server string
}

// Held is the seats held in all by the listed holders.
func (f Feature) Held() int {
	n := 0
	for _, h := range f.Holders {
		n += h.Count
	}
	return n
}

// Feature finds a feature by name (the first, if pools repeat it).
func (u *Usage) Feature(name string) (Feature, bool) {
	for _, f := range u.Features {
		if f.Name == name {
			return f, true
		}
	}
	return Feature{}, false
}

// ErrStatus: the status output is an error or not a status at all (the
// server is down, the tool could not connect).
var ErrStatus = errors.New("licmgr: no license status")

var (
	lmUsersOf = regexp.MustCompile(`^Users of ([^:]+):\s+\(Total of (\d+) licenses? issued;\s+Total of (\d+) licenses? in use\)`)
	lmUncount = regexp.MustCompile(`^Users of ([^:]+):\s+\(Uncounted`)
	lmVersion = regexp.MustCompile(`^\s*"([^"]+)" (v\S+?),? vendor: ([^\s,]+)`)
	lmHolder  = regexp.MustCompile(`^\s+(\S+) (\S+)(?: (\S+))?(?: .*?)? \((v[^)]*)\) \(([^/\s]+/\S+) (\w+)\), start \w{3} (\d{1,2})/(\d{1,2}) (\d{1,2}):(\d{2})(?:, (\d+) licenses?)?`)
	// lmHolderOdd catches a checkout line whose fields lmHolder cannot
	// split (a display with blanks): the seat still counts.
	lmHolderOdd = regexp.MustCompile(`^\s+(\S+) (\S+) (.*?) \((v[^)]*)\) \(([^/\s]+/\S+) (\w+)\), start \w{3} (\d{1,2})/(\d{1,2}) (\d{1,2}):(\d{2})(?:, (\d+) licenses?)?`)
	lmFeatErr   = regexp.MustCompile(`^Users of ([^:]+):\s+\(Error: (.*)\)\s*$`)
	lmReserved  = regexp.MustCompile(`^\s+(\d+) RESERVATIONs? for `)
	lmDaemon    = regexp.MustCompile(`^\s*([\w.-]+): (UP|DOWN|down|up)\b\s*(v\S+)?`)
	lmError     = regexp.MustCompile(`(?i)^(Error getting status|lmgrd is not running|Cannot connect to license server)`)
)

// ParseLmstat reads `lmutil lmstat -a` output. ref is the time the status
// was taken: lmstat prints start times without a year.
func ParseLmstat(r io.Reader, ref time.Time) (*Usage, error) {
	u := &Usage{Manager: FlexNet}
	var cur *Feature
	seenHeader, inDaemons := false, false
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	var errLine string
	for sc.Scan() {
		line := strings.TrimRight(sc.Text(), "\r ")
		trim := strings.TrimSpace(line)
		switch {
		case lmError.MatchString(trim) || strings.Contains(trim, "Cannot connect to license server"):
			errLine = trim
		case strings.HasPrefix(trim, "Flexible License Manager status") || strings.HasPrefix(trim, "License server status"):
			seenHeader = true
		case strings.HasPrefix(trim, "Vendor daemon status"):
			inDaemons = true
		case strings.HasPrefix(trim, "Feature usage info"):
			inDaemons = false
		case inDaemons && lmDaemon.MatchString(line):
			m := lmDaemon.FindStringSubmatch(line)
			u.Daemons = append(u.Daemons, DaemonStatus{Name: m[1], Up: strings.EqualFold(m[2], "UP"), Version: m[3]})
		case lmUsersOf.MatchString(line):
			m := lmUsersOf.FindStringSubmatch(line)
			total, _ := strconv.Atoi(m[2])
			inUse, _ := strconv.Atoi(m[3])
			u.Features = append(u.Features, Feature{Name: m[1], Total: total, InUse: inUse})
			cur = &u.Features[len(u.Features)-1]
			inDaemons = false
		case lmFeatErr.MatchString(line):
			m := lmFeatErr.FindStringSubmatch(line)
			u.Features = append(u.Features, Feature{Name: m[1], Error: m[2]})
			cur = &u.Features[len(u.Features)-1]
		case lmUncount.MatchString(line):
			m := lmUncount.FindStringSubmatch(line)
			u.Features = append(u.Features, Feature{Name: m[1], Total: -1})
			cur = &u.Features[len(u.Features)-1]
		case cur == nil:
		case lmVersion.MatchString(line):
			m := lmVersion.FindStringSubmatch(line)
			if cur.Version == "" {
				cur.Version = m[2]
			}
			if cur.Vendor == "" {
				cur.Vendor = m[3]
			}
		case lmReserved.MatchString(line):
			n, _ := strconv.Atoi(lmReserved.FindStringSubmatch(line)[1])
			cur.Reserved += n
		case lmHolder.MatchString(line) || lmHolderOdd.MatchString(line):
			m := lmHolder.FindStringSubmatch(line)
			if m == nil {
				m = lmHolderOdd.FindStringSubmatch(line)
			}
			h := Holder{User: m[1], Host: m[2], Display: m[3], Server: m[5], Handle: m[6], Count: 1}
			h.Start = dateNoYear(ref, m[7], m[8], m[9], m[10])
			if m[11] != "" {
				h.Count, _ = strconv.Atoi(m[11])
			}
			cur.Holders = append(cur.Holders, h)
			if cur.Total == -1 {
				cur.InUse += h.Count
			}
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("licmgr: reading lmstat output: %w", err)
	}
	if len(u.Features) == 0 && len(u.Daemons) == 0 {
		if errLine != "" {
			return nil, fmt.Errorf("%w: %s", ErrStatus, errLine)
		}
		if !seenHeader {
			return nil, fmt.Errorf("%w: not lmstat output", ErrStatus)
		}
	}
	return u, nil
}

var (
	rlmISVTable = regexp.MustCompile(`^\s*(\S+)\s+(\d+)\s+(Yes|No)\s+(\d+)\s*$`)
	rlmPoolHdr  = regexp.MustCompile(`^\s*(\S+) license pool status on `)
	rlmUsageHdr = regexp.MustCompile(`^\s*(\S+) license usage status on `)
	rlmProduct  = regexp.MustCompile(`^\s*(\S+) v(\S+?)(?:, pool: \d+)?\s*$`)
	rlmCount    = regexp.MustCompile(`^\s*count: (\d+), # reservations: (\d+), inuse: (\d+)`)
	rlmUse      = regexp.MustCompile(`^\s*(\S+) v(\S+?): (\S+)@(\S+) (\d+)/(\d+) at (\d{1,2})/(\d{1,2}) (\d{1,2}):(\d{2})\s+\(handle: (\w+)\)`)
	rlmError    = regexp.MustCompile(`(?i)^(Error connecting to|rlm server not running|Connection attempted to host)`)
	rlmStatusOn = regexp.MustCompile(`^\s*\S+ (ISV server )?status on `)
)

// ParseRlmstat reads `rlmutil rlmstat -a` output. ref is the time the
// status was taken (rlmstat prints no year).
func ParseRlmstat(r io.Reader, ref time.Time) (*Usage, error) {
	u := &Usage{Manager: RLM}
	var isv string
	var cur *Feature
	section := ""
	seen := false
	var errLine string
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := strings.TrimRight(sc.Text(), "\r ")
		trim := strings.TrimSpace(line)
		switch {
		case rlmError.MatchString(trim):
			errLine = trim
		case strings.Contains(trim, "ISV servers"):
			section, seen = "isvs", true
		case strings.HasPrefix(trim, "-----"):
			section = ""
		case rlmPoolHdr.MatchString(line):
			isv, section, seen = rlmPoolHdr.FindStringSubmatch(line)[1], "pool", true
		case rlmUsageHdr.MatchString(line):
			isv, section, seen = rlmUsageHdr.FindStringSubmatch(line)[1], "usage", true
		case rlmStatusOn.MatchString(line):
			seen = true
		case section == "isvs" && rlmISVTable.MatchString(line):
			m := rlmISVTable.FindStringSubmatch(line)
			p, _ := strconv.Atoi(m[2])
			u.Daemons = append(u.Daemons, DaemonStatus{Name: m[1], Port: p, Up: m[3] == "Yes"})
		case (section == "pool" || section == "") && rlmCount.MatchString(line) && cur != nil:
			m := rlmCount.FindStringSubmatch(line)
			cur.Total, _ = strconv.Atoi(m[1])
			cur.Reserved, _ = strconv.Atoi(m[2])
			cur.InUse, _ = strconv.Atoi(m[3])
		case (section == "pool" || section == "") && rlmProduct.MatchString(line) && !strings.Contains(line, ":") && !strings.HasPrefix(trim, "rlmutil "):
			m := rlmProduct.FindStringSubmatch(line)
			u.Features = append(u.Features, Feature{Name: m[1], Version: m[2], Vendor: isv})
			cur = &u.Features[len(u.Features)-1]
			seen = true
		case rlmUse.MatchString(line):
			m := rlmUse.FindStringSubmatch(line)
			count, _ := strconv.Atoi(m[5])
			h := Holder{User: m[3], Host: m[4], Count: max(count, 1), Handle: m[11], Start: dateNoYear(ref, m[7], m[8], m[9], m[10])}
			f := u.findPool(m[1], m[2], isv)
			f.Holders = append(f.Holders, h)
			seen = true
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("licmgr: reading rlmstat output: %w", err)
	}
	if !seen {
		if errLine != "" {
			return nil, fmt.Errorf("%w: %s", ErrStatus, errLine)
		}
		return nil, fmt.Errorf("%w: not rlmstat output", ErrStatus)
	}
	return u, nil
}

// findPool is the pool a usage line belongs to: the first of that product
// and version with room left for another holder, else the first of that
// product and version, else a new entry (an rlmstat cut to usage only).
func (u *Usage) findPool(name, version, isv string) *Feature {
	first := -1
	for i := range u.Features {
		f := &u.Features[i]
		if f.Name != name || f.Version != version {
			continue
		}
		if first < 0 {
			first = i
		}
		if f.Held() < f.InUse {
			return f
		}
	}
	if first >= 0 {
		return &u.Features[first]
	}
	u.Features = append(u.Features, Feature{Name: name, Version: version, Vendor: isv, Total: -1})
	return &u.Features[len(u.Features)-1]
}

// dateNoYear builds month/day hour:minute in ref's location and year,
// going back a year when that would be after ref (a checkout from
// December read in January).
func dateNoYear(ref time.Time, month, day, hour, minute string) time.Time {
	mo, _ := strconv.Atoi(month)
	d, _ := strconv.Atoi(day)
	h, _ := strconv.Atoi(hour)
	mi, _ := strconv.Atoi(minute)
	t := time.Date(ref.Year(), time.Month(mo), d, h, mi, 0, 0, ref.Location())
	if t.After(ref.Add(24 * time.Hour)) {
		t = t.AddDate(-1, 0, 0)
	}
	return t
}

// Seat is one holder of a refused feature as a refusal names it: a
// licgate user (and device) joined to the server's holder, or the server's
// own user@host when no licgate session matches.
type Seat struct {
	Who   string
	Since time.Time
}

// RefusalText is what a refused home user and the admin read: "10 of 10
// in use: alice 2 h, bob 20 min". Holders are listed longest first, at
// most max (0: all), with "and N more".
func RefusalText(total, inUse int, holders []Seat, now time.Time, max int) string {
	s := fmt.Sprintf("%d of %d in use", inUse, total)
	if len(holders) == 0 {
		return s
	}
	hs := append([]Seat(nil), holders...)
	sort.SliceStable(hs, func(i, j int) bool { return hs[i].Since.Before(hs[j].Since) })
	var parts []string
	for i, h := range hs {
		if max > 0 && i == max {
			parts = append(parts, fmt.Sprintf("and %d more", len(hs)-max))
			break
		}
		parts = append(parts, h.Who+" "+Ago(now.Sub(h.Since)))
	}
	return s + ": " + strings.Join(parts, ", ")
}

// Ago is a span as people say it: "40 s", "20 min", "2 h", "3 d".
func Ago(d time.Duration) string {
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%d s", max(int(d/time.Second), 0))
	case d < time.Hour:
		return fmt.Sprintf("%d min", int(d/time.Minute))
	case d < 48*time.Hour:
		return fmt.Sprintf("%d h", int(d/time.Hour))
	}
	return fmt.Sprintf("%d d", int(d/(24*time.Hour)))
}
