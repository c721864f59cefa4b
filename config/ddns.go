package config

// validateDDNS checks the ddns: block (ddnsconfig.Config validates itself),
// resolves its providers' secret files against this file's directory and
// lets profiles use ddns.host when tunnel.endpoint is empty.
func (c *Config) validateDDNS() error {
	d := &c.DDNS
	if err := d.Validate(); err != nil {
		return c.blockErr("ddns", err)
	}
	if d.Host == "" {
		return nil
	}
	for i := range d.Providers {
		pr := &d.Providers[i]
		c.resolve(&pr.SecretFile)
		c.resolve(&pr.PasswordFile)
		c.resolve(&pr.TokenFile)
	}
	if c.Tunnel.Endpoint == "" {
		c.Tunnel.Endpoint = d.Host
	}
	return nil
}
