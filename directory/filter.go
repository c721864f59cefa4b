package directory

import "github.com/go-ldap/ldap/v3"

// The filters a sync sends, built here so they can be checked without a
// server. Values taken from the directory (DNs) are always escaped.

// disabledFilter selects the disabled users among UserFilter's.
func (c Config) disabledFilter() string {
	return "(&" + c.UserFilter + c.DisabledFilter + ")"
}

// inChainFilter selects the users that are members of groupDN at any
// depth, by Active Directory's LDAP_MATCHING_RULE_IN_CHAIN on the user's
// memberOf attribute.
func (c Config) inChainFilter(groupDN string) string {
	return "(&" + c.UserFilter + "(" + c.MemberOfAttribute + ":" + InChainRule + ":=" + ldap.EscapeFilter(groupDN) + "))"
}

// userAttributes are the attributes a user search asks for.
func (c Config) userAttributes() []string {
	a := []string{c.UserNameAttribute, c.EmailAttribute}
	if c.Membership == MembershipMemberOf {
		a = append(a, c.MemberOfAttribute)
	}
	return a
}

// groupAttributes are the attributes a group search asks for.
func (c Config) groupAttributes() []string {
	switch c.Membership {
	case MembershipMemberOf:
		return []string{c.GroupNameAttribute, c.MemberOfAttribute}
	case MembershipMember:
		return []string{c.GroupNameAttribute, c.MemberAttribute}
	}
	return []string{c.GroupNameAttribute}
}

// noAttributes asks for no attributes at all (RFC 4511 4.5.1.8).
var noAttributes = []string{"1.1"}
