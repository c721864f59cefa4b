package main

// The IANA time-zone database, built in (about 450 kB): policies name
// zones (timezone: Europe/Berlin), and Windows, OpenWrt, distroless and
// minimal containers have no /usr/share/zoneinfo. Go still prefers the
// system's database where there is one (ZONEINFO, then the system
// directories), so a machine's newer tzdata wins.
import _ "time/tzdata"
