package gateway

import (
	"context"
	"log/slog"
	"time"

	"github.com/licgate/licgate/config"
	"github.com/licgate/licgate/directory"
	"github.com/licgate/licgate/dirsync"
)

// startDirectory syncs with the directory on an interval and on demand
// until ctx ends (package dirsync).
func (g *Gateway) startDirectory(ctx context.Context, cfg *config.Config) {
	g.dir = dirsync.New(dirsync.Deps{Directory: cfg.DirectorySyncConfig(), Users: g.st, Disabler: g.Manager, Policy: g.Controller,
		Audit: g.audit, Settings: g.dirsyncSettings, GroupName: config.PolicyGroupName, SetGroups: g.setDirectoryGroups,
		Logger: g.log.With(slog.String("component", "directory"))})
	g.wg.Add(1)
	go g.runDirectory(ctx, cfg.Directory.Interval.Duration)
}

func (g *Gateway) runDirectory(ctx context.Context, interval time.Duration) {
	defer g.wg.Done()
	g.dir.Run(ctx, interval)
}

// dirsyncSettings are the directory sync's settings in force.
func (g *Gateway) dirsyncSettings() dirsync.Settings {
	c := g.conf()
	s := dirsync.Settings{AdminGroup: c.Admin.Group}
	if eng := c.Engine(); eng != nil {
		s.Policy = eng.Policy()
	}
	return s
}

// setDirectoryGroups puts the policy in force with the directory's
// groups (serialised with reloads, which swap the policy itself).
func (g *Gateway) setDirectoryGroups(members map[string][]string) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	eng, err := g.conf().EngineWith(members)
	if err != nil {
		return err
	}
	g.SetEngine(eng)
	return nil
}

// directoryEngine puts the policy of cfg (a reload's) in force with the
// directory's groups, if a sync put any in force. g.mu held.
func (g *Gateway) directoryEngine(cfg *config.Config) error {
	members := g.dir.Members()
	if members == nil {
		return nil
	}
	eng, err := cfg.EngineWith(members)
	if err != nil {
		return err
	}
	g.SetEngine(eng)
	return nil
}

// DirectoryStatus is the directory sync's state (nil without a directory).
func (g *Gateway) DirectoryStatus() *directory.Status { return g.dir.Status() }

// DirectoryAccept puts the snapshot the safeguard held back in force.
func (g *Gateway) DirectoryAccept(ctx context.Context) (directory.Held, error) {
	return g.dir.Accept(ctx)
}

// DirectorySync asks for a sync now (it runs in the background).
func (g *Gateway) DirectorySync(context.Context) error { return g.dir.SyncNow() }
