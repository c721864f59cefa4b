// A real OpenID provider for tests: node-oidc-provider (certified), with
// in-memory users and a groups claim. Started by signintest.StartOP.
//
// Environment:
//   OIDC_PROVIDER_MODULE  absolute path of the installed oidc-provider package
//   OP_PORT               port to listen on (default: any free one)
//   OP_HOST               address to listen on and to name in the issuer (default 127.0.0.1)
//   OP_CONFIG             JSON {clientId, clientSecret, redirectUris, requireAuthTime, users:{login:{claims}}}
// Prints "ISSUER <url>" on stdout once it serves.
import http from 'node:http';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

const mod = process.env.OIDC_PROVIDER_MODULE;
const { default: Provider } = await import(pathToFileURL(path.join(mod, 'lib', 'index.js')).href);
const cfg = JSON.parse(process.env.OP_CONFIG);

const server = http.createServer();
const host = process.env.OP_HOST || '127.0.0.1';
await new Promise((resolve) => server.listen(Number(process.env.OP_PORT || 0), host, resolve));
const issuer = `http://${host}:${server.address().port}`;

const provider = new Provider(issuer, {
  clients: [{
    client_id: cfg.clientId,
    client_secret: cfg.clientSecret,
    redirect_uris: cfg.redirectUris,
    response_types: ['code'],
    grant_types: ['authorization_code'],
    token_endpoint_auth_method: 'client_secret_basic',
    require_auth_time: Boolean(cfg.requireAuthTime),
  }],
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['name', 'preferred_username'],
    groups: ['groups'],
  },
  // Put the scope claims into the ID token too, as Entra ID, Google and Dex do.
  conformIdTokenClaims: false,
  pkce: { required: () => true },
  cookies: { keys: ['licgate-test-op-cookie-key'] },
  ttl: { Interaction: 600, Session: 3600, Grant: 3600, AccessToken: 600, IdToken: 600 },
  features: { devInteractions: { enabled: true } },
  async findAccount(ctx, id) {
    const u = cfg.users[id];
    if (!u) return undefined;
    return { accountId: id, async claims() { return { sub: id, ...u }; } };
  },
});
provider.on('server_error', (ctx, err) => console.error('server_error', err));
server.on('request', provider.callback());
process.stdout.write(`ISSUER ${issuer}\n`);
process.on('SIGTERM', () => server.close(() => process.exit(0)));
