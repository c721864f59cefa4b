package service

func newPlatform(cfg Config) (Manager, error) {
	return &rcd{cfg: cfg, fs: fsys{root: "/"}, run: execRun}, nil
}
