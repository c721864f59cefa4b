package signin

import (
	"fmt"
	"time"
)

// AdminConfig is admin sign-in at an admin listener (licgate.yaml
// signin.admin): the relying party, with its RedirectURL on that listener,
// and which groups make a signed-in person an admin or a read-only
// (helpdesk) admin. This package only carries it: the admin listener
// (package adminapi/adminauth) decides roles and keeps the sessions.
type AdminConfig struct {
	Config
	// AdminGroups and ReadonlyGroups name groups: values of the groups
	// claim (Entra: object IDs or sAMAccountNames) or licgate policy
	// groups, directory groups included, of the licgate user whose e-mail
	// is the signed-in address. AdminGroups wins when both match. At least
	// one of the two lists is required.
	AdminGroups    []string
	ReadonlyGroups []string
	// Session is how long an admin session lasts. If zero, 8h.
	Session time.Duration
}

// SessionOr is Session, or def when it is zero.
func (c *AdminConfig) SessionOr(def time.Duration) time.Duration {
	if c.Session <= 0 {
		return def
	}
	return c.Session
}

// Validate checks the relying party's config and the role groups.
func (c *AdminConfig) Validate() error {
	if err := c.Config.Validate(); err != nil {
		return err
	}
	if len(c.AdminGroups) == 0 && len(c.ReadonlyGroups) == 0 {
		return fmt.Errorf("%w: admin: neither admin_groups nor readonly_groups: nobody could sign in", ErrConfig)
	}
	for _, g := range append(append([]string(nil), c.AdminGroups...), c.ReadonlyGroups...) {
		if g == "" {
			return fmt.Errorf("%w: admin: group %q", ErrConfig, g)
		}
	}
	if c.Session < 0 || c.Session > 7*24*time.Hour {
		return fmt.Errorf("%w: admin.session: %s is outside 0-7d", ErrConfig, c.Session)
	}
	return nil
}
