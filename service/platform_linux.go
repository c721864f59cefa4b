package service

func newPlatform(cfg Config) (Manager, error) {
	return newSystemd(cfg, fsys{root: "/"}, execRun)
}
