# node-oidc-provider (OpenID-certified), pinned, from npm: the OpenID
# provider signin/signintest starts for the sign-in tests. Installed outside
# the checkout; signintest looks in $LICGATE_OIDC_PROVIDER or this default.
oidc_dir="${LICGATE_OIDC_PROVIDER:-/opt/licgate-test/oidc-provider}"
oidc_version=9.13.3
if [ "$(node -p "require('$oidc_dir/node_modules/oidc-provider/package.json').version" 2>/dev/null || true)" != "$oidc_version" ]; then
	mkdir -p "$oidc_dir"
	npm install --prefix "$oidc_dir" --no-audit --no-fund --no-save --loglevel=error "oidc-provider@$oidc_version"
fi
