// An OpenID provider for Lockgate's tests that behaves like one Microsoft Entra ID tenant as far as
// oidc-provider 9 allows: the issuer is http://127.0.0.1:PORT/{TENANT_ID}/v2.0, ID tokens carry
// Entra's claims (tid, oid, groups, roles, sid, distributed `groups` for the overage user, `acrs`
// on request) and the discovery document and JWKS are reshaped like Entra's. The README in this
// directory lists the environment variables, users and limits.
//
// stdout carries exactly one line, `ready ISSUER`, once the provider accepts requests. Everything
// else (oidc-provider's notices, errors) goes to stderr.

import { X509Certificate, createHash, generateKeyPairSync, randomBytes } from 'node:crypto';
import { fstatSync } from 'node:fs';
import { createServer } from 'node:http';

import { USERS } from './users.mjs';

// oidc-provider prints some notices with console.info, which writes to stdout. The ready line
// must stay the only stdout output, so all console output goes to stderr.
console.info = console.error;
console.log = console.error;

// Each start-up step writes its time to stderr, so the log of a provider that never prints its
// ready line shows where it stopped.
function step(name) {
  console.error(`provider.mjs: ${name} after ${Math.round(performance.now())} ms`);
}

// Imported after the console redirect because the module prints its runtime warning on load.
const { default: Provider } = await import('oidc-provider');
step('oidc-provider loaded');

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function fail(message) {
  console.error(`provider.mjs: ${message}`);
  process.exit(2);
}

function requiredEnv(name) {
  const value = process.env[name];
  if (!value) fail(`environment variable ${name} is missing`);
  return value;
}

function listEnv(name) {
  return (process.env[name] ?? '').split(',').map((item) => item.trim()).filter(Boolean);
}

function readConfig() {
  const port = Number(process.env.PORT ?? '0');
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    fail(`PORT must be an integer from 0 to 65535, got ${JSON.stringify(process.env.PORT)}`);
  }
  const tenantId = requiredEnv('TENANT_ID').toLowerCase();
  if (!GUID.test(tenantId)) fail(`TENANT_ID must be a GUID, got ${JSON.stringify(tenantId)}`);
  const redirectUris = listEnv('REDIRECT_URIS');
  if (redirectUris.length === 0) fail('REDIRECT_URIS must list at least one URI (comma-separated)');
  return {
    port,
    tenantId,
    clientId: requiredEnv('CLIENT_ID'),
    clientSecret: requiredEnv('CLIENT_SECRET'),
    redirectUris,
    postLogoutRedirectUris: listEnv('POST_LOGOUT_REDIRECT_URIS'),
    frontchannelLogoutUri: process.env.FRONTCHANNEL_LOGOUT_URI || undefined,
    clientCertificate: process.env.CLIENT_CERTIFICATE || undefined,
  };
}

// With CLIENT_CERTIFICATE (a PEM certificate), the client authenticates as an Entra app with a
// certificate credential does: a client assertion signed with the certificate's key
// (private_key_jwt, PS256). The provider checks the signature against the certificate's key.
function certificateAuth(pem) {
  if (!pem) return {};
  let publicKey;
  try {
    publicKey = new X509Certificate(pem).publicKey.export({ format: 'jwk' });
  } catch (error) {
    fail(`CLIENT_CERTIFICATE is not a PEM certificate (${error.message})`);
  }
  return {
    token_endpoint_auth_method: 'private_key_jwt',
    token_endpoint_auth_signing_alg: 'PS256',
    jwks: { keys: [{ ...publicKey, use: 'sig' }] },
  };
}

// Entra's `sub` is pairwise per application, so it never equals the login name or `oid`.
// Hashing login, client and a per-process salt gives the same kind of opaque 43-character value.
const pairwiseSalt = randomBytes(16);

function pairwiseSubject(accountId, client) {
  return createHash('sha256')
    .update(pairwiseSalt)
    .update(`${client.sectorIdentifier}\0${accountId}`)
    .digest('base64url');
}

function requestedAuthContexts(requestedClaims) {
  const acrs = requestedClaims?.acrs;
  if (acrs === null || typeof acrs !== 'object') return [];
  return [acrs.value, ...(Array.isArray(acrs.values) ? acrs.values : [])]
    .filter((value) => typeof value === 'string');
}

function accountClaims(tenantId, login, requestedClaims) {
  const { satisfiesAuthContexts = [], ...claims } = USERS[login];
  // Entra adds `acrs` only for authentication contexts that the client requested (OIDC
  // `claims` parameter) and the sign-in satisfied. `satisfiesAuthContexts` lists the contexts
  // whose conditions (such as MFA) this user is taken to have met.
  const acrs = requestedAuthContexts(requestedClaims)
    .filter((id) => satisfiesAuthContexts.includes(id));
  return {
    ...claims,
    sub: login,
    tid: tenantId,
    ver: '2.0',
    ...(acrs.length > 0 ? { acrs } : {}),
  };
}

function htmlEscape(text) {
  return String(text).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

// Pages of our own, so that logout and error pages load nothing from outside 127.0.0.1
// (the package's defaults import Google Fonts).
function page(title, body) {
  return `<!DOCTYPE html><html><head><meta charset="utf-8"><title>${htmlEscape(title)}</title></head>`
    + `<body><h1>${htmlEscape(title)}</h1>${body}</body></html>`;
}

// When a user signs out, Entra loads the front-channel logout URL of each application the user
// has a session with, adding `?sid=`, in a hidden iframe. oidc-provider 9 has no front-channel
// logout, so this page does it. It loads the iframe, then continues to where the provider would
// have redirected.
function frontchannelLogoutPage(frontchannelUrl, next) {
  const target = JSON.stringify(next);
  return page('Signing out', `
<iframe id="frontchannel" src="${htmlEscape(frontchannelUrl)}" style="display:none"></iframe>
<p><a id="continue" href="${htmlEscape(next)}">Continue</a></p>
<script>
  const go = () => location.replace(${target});
  document.getElementById('frontchannel').addEventListener('load', go);
  setTimeout(go, 5000);
</script>`);
}

function entraLikeDiscovery(document, frontchannelEnabled) {
  // Entra does not publish code_challenge_methods_supported although it accepts S256, and a
  // client must not conclude from its absence that PKCE is unsupported.
  delete document.code_challenge_methods_supported;
  // Back-channel logout is configured only to get `sid` into ID tokens (see the client below),
  // and Entra does not offer it.
  delete document.backchannel_logout_supported;
  delete document.backchannel_logout_session_supported;
  if (frontchannelEnabled) document.frontchannel_logout_supported = true;
  return document;
}

const config = readConfig();
const prefix = `/${config.tenantId}/v2.0`;

// The issuer contains the port, which is only known once the socket is bound, so the server
// listens first and the provider is built afterwards.
let handleProviderRequest;
const server = createServer((req, res) => route(req, res).catch((err) => {
  console.error(`provider.mjs: request ${req.method} ${req.url} failed:`, err);
  if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
  res.end('internal error\n');
}));

await new Promise((resolve, reject) => {
  server.once('error', reject);
  server.listen(config.port, '127.0.0.1', resolve);
});
const origin = `http://127.0.0.1:${server.address().port}`;
step(`listening on ${origin}`);
const issuer = `${origin}${prefix}`;

// Session id (sid) of the signed-in client, keyed by the logout form's xsrf secret, from the
// moment the logout page is shown until the user confirms.
const pendingFrontchannelLogouts = new Map();

// An RSA key without `alg`, as in Entra's JWKS; the provider then publishes it without `alg`.
const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const signingKey = { ...privateKey.export({ format: 'jwk' }), use: 'sig' };
step('signing key generated');

const provider = new Provider(issuer, {
  clients: [{
    client_id: config.clientId,
    client_secret: config.clientSecret,
    redirect_uris: config.redirectUris,
    post_logout_redirect_uris: config.postLogoutRedirectUris,
    response_types: ['code'],
    grant_types: ['authorization_code', 'refresh_token'],
    subject_type: 'pairwise',
    // oidc-provider puts the session's `sid` into ID tokens only for clients that require it
    // in back-channel logout. No logout token is ever sent: the package refuses to connect to
    // loopback addresses ("special-use IP address"), and this URI is on 127.0.0.1.
    backchannel_logout_uri: `${origin}/backchannel-logout-unused`,
    backchannel_logout_session_required: true,
    ...certificateAuth(config.clientCertificate),
  }],
  jwks: { keys: [signingKey] },
  cookies: {
    keys: [randomBytes(32).toString('base64url')],
    // Cookies are per host, not per port, so a browser would send the provider's session
    // cookie to the client on 127.0.0.1 too. Scoping it to the issuer path keeps it out of the
    // client's cookies, as Entra's cookies on its own host would be.
    long: { httpOnly: true, sameSite: 'lax', path: prefix },
  },
  // Each key is a scope (or, with null, a claim that only the `claims` parameter requests).
  // As in Entra, oid, tid and the names come with `profile`, and roles and groups with any
  // sign-in; `_claim_names`/`_claim_sources` follow `groups` automatically.
  claims: {
    openid: ['sub', 'ver', 'roles', 'groups'],
    profile: ['name', 'preferred_username', 'oid', 'tid'],
    email: ['email'],
    acrs: null,
  },
  // Entra puts these claims into the ID token itself, not only into userinfo.
  conformIdTokenClaims: false,
  subjectTypes: ['pairwise'],
  pairwiseIdentifier: (ctx, accountId, client) => pairwiseSubject(accountId, client),
  pkce: { required: () => true },
  // Entra signs ID tokens with RS256 only.
  enabledJWA: { idTokenSigningAlgValues: ['RS256'] },
  features: {
    devInteractions: { enabled: true },
    claimsParameter: { enabled: true },
    backchannelLogout: { enabled: true },
    rpInitiatedLogout: {
      enabled: true,
      logoutSource(ctx, form) {
        const sid = ctx.oidc.session.sidFor(config.clientId);
        if (config.frontchannelLogoutUri && sid) {
          pendingFrontchannelLogouts.set(ctx.oidc.session.state.secret, sid);
        }
        ctx.body = page('Sign out?', `${form}
<button type="submit" form="op.logoutForm" name="logout" value="yes">Yes, sign me out</button>
<button type="submit" form="op.logoutForm">No, stay signed in</button>`);
      },
      postLogoutSuccessSource(ctx) {
        ctx.body = page('Signed out', '<p>You have been signed out.</p>');
      },
    },
  },
  async findAccount(ctx, login) {
    // Unknown names are rejected at the login form (rejectUnknownLogin); the password is
    // never checked.
    if (!Object.hasOwn(USERS, login)) return undefined;
    return {
      accountId: login,
      claims: async (use, scope, requestedClaims) => accountClaims(config.tenantId, login, requestedClaims),
    };
  },
  renderError(ctx, out) {
    ctx.type = 'html';
    ctx.body = page('Sign-in error', Object.entries(out)
      .map(([key, value]) => `<pre>${htmlEscape(key)}: ${htmlEscape(value)}</pre>`).join(''));
  },
});

provider.on('server_error', (ctx, err) => console.error('provider.mjs: server_error:', err));
provider.on('authorization.error', (ctx, err) => {
  console.error(`provider.mjs: authorization error: ${err.error} (${err.error_description})`);
});
provider.on('grant.error', (ctx, err) => {
  console.error(`provider.mjs: token error: ${err.error} (${err.error_description})`);
});
provider.on('end_session.error', (ctx, err) => {
  console.error(`provider.mjs: end_session error: ${err.error} (${err.error_description})`);
});
// Every back-channel logout fails by design (see backchannel_logout_uri), so its error is not logged.
provider.on('backchannel.error', () => {});

// Reshape responses after the provider built them: standard discovery properties cannot be
// configured, and the JWKS gets Entra's `issuer` member on every key.
provider.use(async (ctx, next) => {
  await next();
  switch (ctx.oidc?.route) {
    case 'discovery':
      ctx.body = entraLikeDiscovery(ctx.body, Boolean(config.frontchannelLogoutUri));
      break;
    case 'jwks':
      ctx.body = { keys: ctx.body.keys.map((key) => ({ ...key, issuer })) };
      break;
    case 'end_session_confirm': {
      const sid = pendingFrontchannelLogouts.get(ctx.oidc.params?.xsrf);
      pendingFrontchannelLogouts.delete(ctx.oidc.params?.xsrf);
      if (sid && ctx.status === 303) {
        const frontchannelUrl = new URL(config.frontchannelLogoutUri);
        frontchannelUrl.searchParams.set('sid', sid);
        const next = ctx.response.get('location');
        ctx.remove('location');
        ctx.status = 200;
        ctx.type = 'html';
        ctx.body = frontchannelLogoutPage(frontchannelUrl.href, next);
      }
      break;
    }
    default:
  }
});

handleProviderRequest = provider.callback();

// Entra's multi-tenant discovery documents (`organizations`, `common`) carry the literal
// template issuer `.../{tenantid}/v2.0`. These point at this tenant's endpoints, so tokens
// from them carry this tenant's issuer, as Entra's do.
async function templateDiscovery(res) {
  const response = await fetch(`${issuer}/.well-known/openid-configuration`);
  const document = await response.json();
  document.issuer = `${origin}/{tenantid}/v2.0`;
  res.writeHead(200, { 'content-type': 'application/json; charset=utf-8' });
  res.end(JSON.stringify(document));
}

async function readForm(req) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  return Object.fromEntries(new URLSearchParams(Buffer.concat(chunks).toString('utf8')));
}

// The dev login page accepts any name. Entra rejects an unknown one on its login page, and a
// mistyped user in a test should fail loudly, so an unknown name gets a 401 page that lists the
// users instead of a session.
async function rejectUnknownLogin(req, res) {
  const form = await readForm(req);
  // oidc-provider reads an already parsed body from req.body (it warns once on stderr).
  req.body = form;
  if (form.prompt !== 'login' || Object.hasOwn(USERS, form.login)) return false;
  console.error(`provider.mjs: sign-in as unknown user ${JSON.stringify(form.login)} rejected`);
  res.writeHead(401, { 'content-type': 'text/html; charset=utf-8' });
  res.end(page('Unknown user', `<p>No user ${htmlEscape(JSON.stringify(form.login))}. `
    + `Known users: ${Object.keys(USERS).join(', ')}.</p>`));
  return true;
}

async function route(req, res) {
  const path = req.url.split('?', 1)[0];
  if (path.startsWith(`${prefix}/`)) {
    if (req.method === 'POST' && path.startsWith(`${prefix}/interaction/`) && await rejectUnknownLogin(req, res)) {
      return;
    }
    // Mounting: oidc-provider derives the mount path (and so every endpoint URL) from the
    // difference between originalUrl and url.
    req.originalUrl = req.url;
    req.url = req.url.slice(prefix.length);
    handleProviderRequest(req, res);
    return;
  }
  if (req.method === 'GET' && /^\/(organizations|common)\/v2\.0\/\.well-known\/openid-configuration$/.test(path)) {
    await templateDiscovery(res);
    return;
  }
  res.writeHead(404, { 'content-type': 'text/plain' });
  res.end(`not found: ${path} (the issuer is ${issuer})\n`);
}

// A test that dies without stopping this process closes its end of the stdin pipe. Exiting then
// keeps providers from outliving the tests that started them. Only a pipe is watched, so a
// provider started from a shell with stdin on a terminal or /dev/null keeps running.
if (fstatSync(0).isFIFO()) {
  process.stdin.on('end', () => process.exit(0));
  process.stdin.resume();
}
process.on('SIGTERM', () => process.exit(0));
process.on('SIGINT', () => process.exit(0));

step('provider built');
process.stdout.write(`ready ${issuer}\n`);
