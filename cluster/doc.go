// Package cluster lets several licgate gateways that share one
// PostgreSQL database act as one: session caps hold across all of them,
// a change made on one reaches the others within a second, and they
// share one WireGuard identity, so a home profile works against any.
//
// Shared sessions: every capped session is a row of cluster_sessions
// with a lease. Admit counts the rows whose lease has not run out (on
// every gateway) under one advisory lock, asks the caller's decide
// function (the ACL engine) with those counts, and inserts the row when
// it allows; two admissions anywhere in the cluster never see the same
// counts. Each gateway renews its own rows' leases every Renew; a
// gateway that dies stops renewing, and its sessions stop counting when
// their lease ends (Lease, 15 s by default). Times are the database
// server's clock, so gateway clocks need not agree. A gateway that
// could not renew in time learns which of its sessions no longer count
// (OnLost) and must cut them: caps fail closed.
//
// A database that does not answer: Admit, Release, Update and Sessions
// go through one circuit breaker (breaker.go). The first call that
// fails or runs out (Timeout, 3 s) opens it and ends the calls waiting
// with it; then they fail at once with ErrUnavailable, without asking
// the database, until a background probe (one at a time, backoff
// ProbeBackoff doubling to MaxProbeBackoff) gets an answer. Breaker
// reports the state for health and metrics. Callers must not hold their
// own locks across these calls: the gateway's session table calls them
// without its lock (session.Shared) and releases a row before it
// reports the session ended.
//
// Change notification: Notify sends a Change on the PostgreSQL channel
// licgate_changes (NOTIFY); Watch LISTENs on a connection of its own,
// calls fn for each Change, and after every (re)connection first calls
// fn with a Resync change, since notifications sent while it was away
// are lost: on Resync reload everything.
//
// Shared WireGuard identity: SharedKey returns the gateway private key
// kept in the database, sealed with AES-256-GCM under a key-encryption
// key (KEK) that each gateway has in a file and the database never
// sees. The first gateway to ask creates it, under an advisory lock.
//
// A gateway takes part through a Member (Join): the session table's
// shared side (session.Shared), the other gateways' counts for explain
// and re-evaluation, the change watch with the Handlers the gateway
// gives it, the shared policy and the VIP takeover (takeover.go). It is
// given what it acts on and never calls back into the gateway.
//
//	boot ──New──> new ──Start──> running ──Close──> closed
//	                               │ ctx of Start cancelled: renewing
//	                               │ stops (as a crash), rows stay
//
// Typical usage (a gateway: Join does New and Start):
//
//	m, err := cluster.Join(ctx, cluster.MemberConfig{Config: cluster.Config{Pool: st.Pool(), GatewayID: "gw-a"}, Sessions: table})
//	table.Shared = m
//	go m.Watch(ctx, cluster.Handlers{Policy: reload, SignIn: recordSignIn, Identities: applyRemote})
//	defer m.Close()
//
// The Cluster alone:
//
//	st, _ := postgres.Open(ctx, dsn, log)
//	c, err := cluster.New(cluster.Config{Pool: st.Pool(), GatewayID: "gw-a", Logger: log,
//		OnLost: func(ids []int64) { /* cut those sessions */ }})
//	if err := c.Start(ctx); err != nil { ... }
//	defer c.Close()
//	key, err := c.SharedKey(ctx, "/etc/licgate/cluster.kek")
//	go c.Watch(ctx, func(ch cluster.Change) { /* reload, or cut ch.User/ch.Device */ })
//	s, err := c.Admit(ctx, cluster.Session{User: "alice", Device: "laptop", Service: "codemeter"},
//		func(n acl.Counts) (cluster.Decision, error) { ... engine.Decide with Counts: n ... })
//	defer c.Release(ctx, s.ID)
package cluster
