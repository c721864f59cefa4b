package admission

import (
	"time"

	"github.com/licgate/licgate/internal/confval"
)

// signinKey names a sign-in: the device's, or the user's (device "")
// with signin.unlock: user.
type signinKey struct{ user, device string }

// RecordSignIn makes rules with a signin window see the sign-in of user
// on device ("": all the user's devices, with signin.unlock: user). A
// sign-in older than the one recorded changes nothing.
func (c *Controller) RecordSignIn(user, device string, at time.Time) {
	c.signMu.Lock()
	defer c.signMu.Unlock()
	next := map[signinKey]time.Time{}
	if m := c.signins.Load(); m != nil {
		for k, v := range *m {
			next[k] = v
		}
	}
	k := signinKey{user, device}
	if at.After(next[k]) {
		next[k] = at
	}
	c.signins.Store(&next)
}

// LastSignIn is when user last signed in at the portal for device (zero:
// never). A sign-in for all the user's devices counts only with
// signin.unlock: user.
func (c *Controller) LastSignIn(user, device string) time.Time {
	m := c.signins.Load()
	if m == nil {
		return time.Time{}
	}
	at := (*m)[signinKey{user, device}]
	if c.d.Settings().UnlockUser {
		if all := (*m)[signinKey{user, ""}]; all.After(at) {
			at = all
		}
	}
	return at
}

// SignInWindow is the longest signin window of the policy's rules (12h
// when none has one): how long a sign-in unlocks.
func (c *Controller) SignInWindow() time.Duration {
	longest := time.Duration(0)
	for _, r := range c.engine.Load().Policy().Rules {
		if d, err := confval.ParseDuration(r.SignIn); err == nil && d > longest {
			longest = d
		}
	}
	if longest == 0 {
		return 12 * time.Hour
	}
	return longest
}
