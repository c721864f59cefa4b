package service

func newPlatform(cfg Config) (Manager, error) {
	return &launchd{cfg: cfg, fs: fsys{root: "/"}, run: execRun}, nil
}
