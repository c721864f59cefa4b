package main

import (
	"errors"
	"flag"
	"fmt"

	"github.com/licgate/licgate/cmd/licgate/internal/clikit"
	"github.com/licgate/licgate/config"
	"github.com/licgate/licgate/licmgr"
)

const licenseLintHelp = `Checks a FlexNet (license.dat) or RLM (.lic) license file for use through
licgate and prints each problem as FILE:LINE with the exact corrected line:

  - a VENDOR/DAEMON (FlexNet) or ISV (RLM) line without a pinned port: the
    vendor daemon or ISV server would listen on a port picked at random,
    which no gateway can forward (error);
  - a SERVER/HOST line without a port, with a bad one, or with a placeholder
    host name such as this_host (warning; --host NAME writes the name in).

Without FILE, lints the license_file of every service in the config (-c).
The manager is told by the file's keywords; --manager flexnet|rlm forces
it. Exits 1 if any error is found. After fixing, restart the license
manager (lmgrd, rlm): port changes need a restart.`

// setupLicenseLint is `licgate license lint [FILE]`.
func setupLicenseLint(fs *flag.FlagSet) clikit.RunFunc {
	cfgPath := fs.String("c", defaultConfig, "config `FILE` whose services' license_file to lint (without FILE)")
	manager := fs.String("manager", "", "force the license manager: flexnet or rlm")
	host := fs.String("host", "", "the license server's host `NAME`, written into corrected SERVER/HOST lines")
	return func(e *clikit.Env, args []string) error {
		if len(args) > 1 {
			return clikit.Usagef("license lint takes at most one FILE, got %d", len(args))
		}
		opt := licmgr.LintOptions{Host: *host}
		if *manager != "" {
			k, err := licmgr.ParseKind(*manager)
			if err != nil || k != licmgr.FlexNet && k != licmgr.RLM {
				return clikit.Usagef("--manager %q: flexnet or rlm", *manager)
			}
			opt.Manager = k
		}
		var files []string
		if len(args) == 1 {
			files = args
		} else {
			cfg, err := config.Load(*cfgPath)
			if err != nil {
				return err
			}
			for _, s := range cfg.Services {
				if s.LicenseFile != "" {
					files = append(files, cfg.LicenseFilePath(s))
				}
			}
			if len(files) == 0 {
				return fmt.Errorf("%s: no service has a license_file (give FILE)", cfg.File())
			}
		}
		failed := false
		for _, f := range files {
			bad, err := lintOne(e, f, opt)
			if err != nil {
				return err
			}
			failed = failed || bad
		}
		if failed {
			return clikit.ErrFailed
		}
		return nil
	}
}

// lintOne prints one file's findings and a summary; bad reports errors.
func lintOne(e *clikit.Env, path string, opt licmgr.LintOptions) (bad bool, err error) {
	findings, lf, err := licmgr.LintFile(path, opt)
	if err != nil {
		if errors.Is(err, licmgr.ErrNotLicense) {
			return false, fmt.Errorf("%s: not a FlexNet or RLM license file (no SERVER, HOST, VENDOR, ISV, FEATURE or LICENSE line)", path)
		}
		return false, err
	}
	for _, f := range findings {
		fmt.Fprintln(e.Stdout, f)
	}
	summary, errs := lf.Summary(findings)
	fmt.Fprintf(e.Stdout, "%s: %s\n", path, summary)
	return errs > 0, nil
}
