// Checks the Entra-shaped provider end to end, on 127.0.0.1 only: discovery, code flow with
// PKCE, the claims of each kind of user, step-up `acrs`, logout, and a headless-Chromium sign-in
// through login.mjs against a small client started here. Run: `node selfcheck.mjs` (or
// selfcheck.sh) after `npm ci`; the Chromium part needs /usr/bin/chromium. It prints one line
// per check and ends with "N passed, N failed". SKIP_BROWSER=1 leaves out Chromium. The
// providers' stderr is printed when a check failed, or always with SHOW_PROVIDER_STDERR=1.

import { spawn } from 'node:child_process';
import { createHash, createPublicKey, randomBytes, verify } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

import { launchConfinedBrowser } from './browser.mjs';
import { signIn } from './login.mjs';
import { GROUPS, USERS } from './users.mjs';

const HERE = fileURLToPath(new URL('.', import.meta.url));
const TENANT_ID = '7f0c3e2a-1b4d-4c8e-9a51-2d6b0e9f4a11';
const CLIENT_ID = '3c9d6a1e-8f42-4b7a-a0d5-6e1f2b3c4d55';
const CLIENT_SECRET = 'selfcheck-secret';
const STEP_UP_CLAIMS = JSON.stringify({ id_token: { acrs: { essential: true, value: 'c1' } } });
// login.mjs saves a screenshot on every failure, including the expected one for an unknown user.
const SCREENSHOT_DIR = mkdtempSync(join(tmpdir(), 'lockgate-selfcheck-'));

let passed = 0;
let failed = 0;

function check(name, condition, detail = '') {
  if (condition) {
    passed += 1;
    console.log(`ok   ${name}`);
  } else {
    failed += 1;
    console.log(`FAIL ${name}${detail ? `: ${detail}` : ''}`);
  }
}

function section(title) {
  console.log(`\n# ${title}`);
}

const base64url = (buffer) => Buffer.from(buffer).toString('base64url');
const sameSet = (a, b) => Array.isArray(a) && a.length === b.length && b.every((x) => a.includes(x));

// --- a small client (the relying party) -------------------------------------------------------

// Serves the client's pages: /start redirects to the provider, /callback redeems the code and
// shows the query and the verified ID token claims, /logout starts RP-initiated logout,
// /frontchannel-logout records the `sid` the provider sends, /signed-out ends logout.
function startClient() {
  const pending = new Map(); // state -> { verifier, nonce }
  const client = {
    frontchannelSids: [],
    lastIdToken: null,
    provider: null, // { issuer, discovery, jwks }, set once the provider is up
  };

  const server = createServer(async (req, res) => {
    const url = new URL(req.url, client.origin);
    const html = (status, body, headers = {}) => {
      res.writeHead(status, { 'content-type': 'text/html; charset=utf-8', ...headers });
      res.end(`<!DOCTYPE html><html><body>${body}</body></html>`);
    };
    try {
      if (url.pathname === '/start') {
        const request = newAuthorizationRequest(client, url.searchParams.get('claims'));
        pending.set(request.state, request);
        res.writeHead(302, { location: request.url, 'set-cookie': `rp_state=${request.state}; Path=/; HttpOnly` });
        res.end();
      } else if (url.pathname === '/callback') {
        const request = pending.get(url.searchParams.get('state'));
        if (!request) return html(400, '<p>unknown state</p>');
        const tokens = await redeemCode(client, url.searchParams.get('code'), request.verifier);
        const claims = verifyIdToken(client.provider, tokens.id_token, request.nonce);
        client.lastIdToken = tokens.id_token;
        const query = Object.fromEntries(url.searchParams);
        return html(200, `<pre id="result">${JSON.stringify({ query, claims })}</pre>`,
          { 'set-cookie': 'rp_session=signed-in; Path=/; HttpOnly' });
      } else if (url.pathname === '/logout') {
        const endSession = new URL(client.provider.discovery.end_session_endpoint);
        endSession.searchParams.set('id_token_hint', client.lastIdToken);
        endSession.searchParams.set('post_logout_redirect_uri', `${client.origin}/signed-out`);
        endSession.searchParams.set('state', 'logout-state');
        res.writeHead(302, { location: endSession.href });
        res.end();
      } else if (url.pathname === '/frontchannel-logout') {
        client.frontchannelSids.push(url.searchParams.get('sid'));
        return html(200, '<p>front-channel logout received</p>');
      } else if (url.pathname === '/signed-out') {
        return html(200, `<p>signed out, state=${url.searchParams.get('state')}</p>`);
      } else {
        return html(404, '<p>not found</p>');
      }
    } catch (err) {
      return html(500, `<pre>${err.stack}</pre>`);
    }
    return undefined;
  });

  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      client.origin = `http://127.0.0.1:${server.address().port}`;
      client.server = server;
      resolve(client);
    });
  });
}

function newAuthorizationRequest(client, claims) {
  const verifier = base64url(randomBytes(32));
  const state = base64url(randomBytes(12));
  const nonce = base64url(randomBytes(12));
  const url = new URL(client.provider.discovery.authorization_endpoint);
  url.search = new URLSearchParams({
    client_id: CLIENT_ID,
    response_type: 'code',
    scope: 'openid profile email',
    redirect_uri: `${client.origin}/callback`,
    state,
    nonce,
    code_challenge: base64url(createHash('sha256').update(verifier).digest()),
    code_challenge_method: 'S256',
    ...(claims ? { claims } : {}),
  }).toString();
  return { url: url.href, verifier, state, nonce };
}

// Redeems a code with client_secret_basic, or with client_secret_post when `secretInBody`.
async function redeemCode(client, code, verifier, { secretInBody = false } = {}) {
  const basic = `Basic ${Buffer.from(`${CLIENT_ID}:${CLIENT_SECRET}`).toString('base64')}`;
  const response = await fetch(client.provider.discovery.token_endpoint, {
    method: 'POST',
    headers: {
      ...(secretInBody ? {} : { authorization: basic }),
      'content-type': 'application/x-www-form-urlencoded',
    },
    body: new URLSearchParams({
      grant_type: 'authorization_code',
      code,
      redirect_uri: `${client.origin}/callback`,
      code_verifier: verifier,
      ...(secretInBody ? { client_id: CLIENT_ID, client_secret: CLIENT_SECRET } : {}),
    }),
  });
  const body = await response.json();
  if (!response.ok) throw new Error(`token request failed: ${response.status} ${JSON.stringify(body)}`);
  return body;
}

function decodeJwt(jwt) {
  const [header, payload] = jwt.split('.').slice(0, 2)
    .map((part) => JSON.parse(Buffer.from(part, 'base64url').toString('utf8')));
  return { header, payload };
}

// Verifies the RS256 signature with the provider's JWKS and the iss, aud and nonce claims.
function verifyIdToken(provider, jwt, nonce) {
  const { header, payload } = decodeJwt(jwt);
  const jwk = provider.jwks.keys.find((key) => key.kid === header.kid);
  if (!jwk) throw new Error(`no JWKS key with kid ${header.kid}`);
  if (header.alg !== 'RS256') throw new Error(`ID token alg is ${header.alg}, expected RS256`);
  const [h, p, signature] = jwt.split('.');
  const { alg, issuer, ...publicJwk } = jwk;
  const valid = verify('RSA-SHA256', Buffer.from(`${h}.${p}`), createPublicKey({ key: publicJwk, format: 'jwk' }),
    Buffer.from(signature, 'base64url'));
  if (!valid) throw new Error('ID token signature is invalid');
  if (payload.iss !== provider.issuer) throw new Error(`iss ${payload.iss} != ${provider.issuer}`);
  if (payload.aud !== CLIENT_ID) throw new Error(`aud ${payload.aud} != ${CLIENT_ID}`);
  if (payload.nonce !== nonce) throw new Error(`nonce ${payload.nonce} != ${nonce}`);
  return payload;
}

// --- the provider under test --------------------------------------------------------------------

async function startProvider(client, extraEnv = {}) {
  const child = spawn(process.execPath, ['provider.mjs'], {
    cwd: HERE,
    env: {
      ...process.env,
      PORT: '0',
      TENANT_ID,
      CLIENT_ID,
      CLIENT_SECRET,
      REDIRECT_URIS: `${client.origin}/callback`,
      POST_LOGOUT_REDIRECT_URIS: `${client.origin}/signed-out`,
      ...extraEnv,
    },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (data) => { stderr += data; });
  const lines = createInterface({ input: child.stdout });
  const first = await new Promise((resolve, reject) => {
    lines.once('line', resolve);
    child.once('exit', (code) => reject(new Error(`provider exited with ${code}:\n${stderr}`)));
  });
  const extraLines = [];
  lines.on('line', (line) => extraLines.push(line));
  const issuer = first.replace(/^ready /, '');
  return { child, issuer, firstLine: first, extraLines, stderr: () => stderr };
}

// --- the code flow without a browser -----------------------------------------------------------

// A minimal cookie jar: name -> value, for the provider's origin only.
async function jarFetch(jar, url, init = {}) {
  const cookie = [...jar].map(([name, value]) => `${name}=${value}`).join('; ');
  const response = await fetch(url, {
    ...init,
    redirect: 'manual',
    headers: { ...(init.headers ?? {}), ...(cookie ? { cookie } : {}) },
  });
  for (const header of response.headers.getSetCookie()) {
    const [pair, ...attributes] = header.split(';');
    const name = pair.slice(0, pair.indexOf('='));
    const value = pair.slice(pair.indexOf('=') + 1);
    const expired = attributes.some((a) => /^\s*expires=Thu, 01 Jan 1970/i.test(a));
    if (expired || value === '') jar.delete(name);
    else jar.set(name, value);
  }
  return response;
}

function formOf(html) {
  const action = html.match(/<form[^>]*action="([^"]+)"/)?.[1]?.replace(/&#x2F;|&#47;/g, '/').replace(/&amp;/g, '&');
  const fields = Object.fromEntries([...html.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)"/g)]
    .map((m) => [m[1], m[2]]));
  return { action, fields };
}

// Follows the authorization request through the dev login and consent pages and returns the
// first redirect that leaves the provider's origin (the client's callback), or throws.
async function codeFlow(jar, authorizeUrl, login) {
  const providerOrigin = new URL(authorizeUrl).origin;
  let url = authorizeUrl;
  let response = await jarFetch(jar, url);
  for (let step = 0; step < 12; step += 1) {
    if (response.status >= 300 && response.status < 400) {
      url = new URL(response.headers.get('location'), url).href;
      if (new URL(url).origin !== providerOrigin) return url;
      response = await jarFetch(jar, url);
      continue;
    }
    const html = await response.text();
    const { action, fields } = formOf(html);
    if (response.status !== 200 || !fields.prompt) {
      throw new Error(`unexpected provider page ${url} (${response.status}): ${html.slice(0, 300)}`);
    }
    const body = new URLSearchParams({ prompt: fields.prompt });
    if (fields.prompt === 'login') {
      body.set('login', login);
      body.set('password', 'any-password');
    }
    url = new URL(action, url).href;
    response = await jarFetch(jar, url, { method: 'POST', body });
  }
  throw new Error(`sign-in as ${login} did not finish; the provider kept asking`);
}

async function signInWithoutBrowser(client, login, claims) {
  const request = newAuthorizationRequest(client, claims);
  const jar = new Map();
  const callback = new URL(await codeFlow(jar, request.url, login));
  const code = callback.searchParams.get('code');
  if (!code) throw new Error(`no code in ${callback.href}`);
  const tokens = await redeemCode(client, code, request.verifier);
  return { jar, callback, tokens, claims: verifyIdToken(client.provider, tokens.id_token, request.nonce) };
}

// --- the checks --------------------------------------------------------------------------------

async function checkDiscovery(client, provider) {
  section('discovery');
  check('ready line is the only stdout line so far', provider.firstLine.startsWith('ready ') && provider.extraLines.length === 0,
    JSON.stringify(provider.extraLines));
  const expectedIssuer = `${new URL(provider.issuer).origin}/${TENANT_ID}/v2.0`;
  check('issuer is http://127.0.0.1:PORT/{tenant}/v2.0', provider.issuer === expectedIssuer, provider.issuer);

  const response = await fetch(`${provider.issuer}/.well-known/openid-configuration`);
  const discovery = await response.json();
  check('discovery served at ISSUER/.well-known/openid-configuration', response.ok && discovery.issuer === provider.issuer);
  for (const endpoint of ['authorization_endpoint', 'token_endpoint', 'jwks_uri', 'end_session_endpoint']) {
    check(`discovery has ${endpoint} under the issuer`, discovery[endpoint]?.startsWith(`${provider.issuer}/`), discovery[endpoint]);
  }
  check('no code_challenge_methods_supported (as Entra)', !('code_challenge_methods_supported' in discovery));
  check('claims_parameter_supported', discovery.claims_parameter_supported === true);
  check('id_token_signing_alg_values_supported is [RS256]', sameSet(discovery.id_token_signing_alg_values_supported, ['RS256']));
  check('subject_types_supported is [pairwise]', sameSet(discovery.subject_types_supported, ['pairwise']));
  check('no back-channel logout advertised', !('backchannel_logout_supported' in discovery));

  const jwks = await (await fetch(discovery.jwks_uri)).json();
  check('JWKS keys carry no alg', jwks.keys.length > 0 && jwks.keys.every((key) => !('alg' in key)), JSON.stringify(jwks.keys.map((k) => k.alg)));
  check('JWKS keys carry issuer', jwks.keys.every((key) => key.issuer === provider.issuer));

  const origin = new URL(provider.issuer).origin;
  const template = await (await fetch(`${origin}/organizations/v2.0/.well-known/openid-configuration`)).json();
  check('organizations document has the {tenantid} template issuer', template.issuer === `${origin}/{tenantid}/v2.0`, template.issuer);

  client.provider = { issuer: provider.issuer, discovery, jwks };
  return discovery;
}

async function checkCodeFlow(client) {
  section('code flow with PKCE (no browser)');
  const started = Date.now();
  const { callback, tokens, claims } = await signInWithoutBrowser(client, 'ada');
  check('callback carries code, state and iss', callback.searchParams.has('code') && callback.searchParams.has('state')
    && callback.searchParams.get('iss') === client.provider.issuer, callback.href);
  check('token response has an access token and an ID token', Boolean(tokens.access_token && tokens.id_token));
  check('ID token signature, iss, aud and nonce verify', true);
  check('tid is the tenant', claims.tid === TENANT_ID, claims.tid);
  check('oid is ada\'s', claims.oid === USERS.ada.oid, claims.oid);
  check('roles is [Locker.Admin]', sameSet(claims.roles, ['Locker.Admin']), JSON.stringify(claims.roles));
  check('groups are ada\'s two group GUIDs', sameSet(claims.groups, [GROUPS.lockerAdmins, GROUPS.ward7Nurses]), JSON.stringify(claims.groups));
  check('name, preferred_username and email present', claims.name === USERS.ada.name
    && claims.preferred_username === USERS.ada.preferred_username && claims.email === USERS.ada.email);
  check('no email_verified', !('email_verified' in claims));
  check('sid present', typeof claims.sid === 'string' && claims.sid.length > 0, claims.sid);
  check('ver is 2.0', claims.ver === '2.0');
  check('sub is pairwise (neither the login nor the oid)', claims.sub && claims.sub !== 'ada' && claims.sub !== claims.oid, claims.sub);
  check('no acrs without a request', !('acrs' in claims));
  console.log(`     (sign-in and token request took ${Date.now() - started} ms)`);

  for (const [login, role] of [['fm', 'Locker.FacilityManager'], ['helpdesk', 'Locker.Helpdesk'],
    ['auditor', 'Locker.Auditor'], ['user', 'Locker.User']]) {
    const signedIn = (await signInWithoutBrowser(client, login)).claims;
    check(`${login}: roles is [${role}]`, sameSet(signedIn.roles, [role]), JSON.stringify(signedIn.roles));
  }
  const user = (await signInWithoutBrowser(client, 'user')).claims;
  check('user: one group', sameSet(user.groups, [GROUPS.ward7Nurses]), JSON.stringify(user.groups));

  const noPkce = new URL(newAuthorizationRequest(client).url);
  noPkce.searchParams.delete('code_challenge');
  noPkce.searchParams.delete('code_challenge_method');
  const rejected = new URL(await codeFlow(new Map(), noPkce.href, 'ada'));
  check('authorization request without PKCE is rejected', rejected.searchParams.get('error') === 'invalid_request',
    `${rejected.searchParams.get('error')}: ${rejected.searchParams.get('error_description')}`);

  const request = newAuthorizationRequest(client);
  const code = new URL(await codeFlow(new Map(), request.url, 'ada')).searchParams.get('code');
  let wrongVerifier = null;
  try {
    await redeemCode(client, code, base64url(randomBytes(32)));
  } catch (err) {
    wrongVerifier = err.message;
  }
  check('code with a wrong code_verifier is rejected', /invalid_grant/.test(wrongVerifier ?? ''), wrongVerifier);

  const postRequest = newAuthorizationRequest(client);
  const postCode = new URL(await codeFlow(new Map(), postRequest.url, 'ada')).searchParams.get('code');
  const postTokens = await redeemCode(client, postCode, postRequest.verifier, { secretInBody: true });
  check('client_secret_post is accepted too', Boolean(postTokens.id_token));

  let unknown = null;
  try {
    await codeFlow(new Map(), newAuthorizationRequest(client).url, 'mallory');
  } catch (err) {
    unknown = err.message;
  }
  check('unknown login name gets a 401 page listing the users', /\(401\).*Known users: ada, fm/.test(unknown ?? ''), unknown);
}

async function checkOverageAndStepUp(client) {
  section('overage and step-up');
  const overage = (await signInWithoutBrowser(client, 'overage')).claims;
  check('overage: no groups claim', !('groups' in overage));
  check('overage: _claim_names.groups is src1', overage._claim_names?.groups === 'src1', JSON.stringify(overage._claim_names));
  check('overage: _claim_sources.src1.endpoint', overage._claim_sources?.src1?.endpoint === 'http://127.0.0.1:9/should-never-be-called',
    JSON.stringify(overage._claim_sources));

  const plain = (await signInWithoutBrowser(client, 'stepup')).claims;
  check('stepup without claims request: no acrs', !('acrs' in plain), JSON.stringify(plain.acrs));
  const stepped = (await signInWithoutBrowser(client, 'stepup', STEP_UP_CLAIMS)).claims;
  check('stepup with acrs=c1 requested: acrs is [c1]', sameSet(stepped.acrs, ['c1']), JSON.stringify(stepped.acrs));
  check('stepup: roles and groups like user', sameSet(stepped.roles, ['Locker.User']) && sameSet(stepped.groups, [GROUPS.ward7Nurses]));
  const other = (await signInWithoutBrowser(client, 'user', STEP_UP_CLAIMS)).claims;
  check('user with acrs=c1 requested: no acrs (cannot satisfy it)', !('acrs' in other), JSON.stringify(other.acrs));
  const valuesForm = JSON.stringify({ id_token: { acrs: { essential: true, values: ['c1', 'c2'] } } });
  const listed = (await signInWithoutBrowser(client, 'stepup', valuesForm)).claims;
  check('stepup with acrs values [c1, c2] requested: acrs is [c1]', sameSet(listed.acrs, ['c1']), JSON.stringify(listed.acrs));
  const otherContext = JSON.stringify({ id_token: { acrs: { essential: true, value: 'c2' } } });
  const c2 = (await signInWithoutBrowser(client, 'stepup', otherContext)).claims;
  check('stepup with acrs=c2 requested: no acrs', !('acrs' in c2), JSON.stringify(c2.acrs));
}

// RP-initiated logout with a cookie jar. With FRONTCHANNEL_LOGOUT_URI set, the confirmation
// returns a page that loads the front-channel URL with the session's sid; without it, a 303.
async function checkLogout(client, { frontchannel }) {
  section(`RP-initiated logout (${frontchannel ? 'with' : 'without'} front-channel logout)`);
  const { jar, tokens, claims } = await signInWithoutBrowser(client, 'ada');
  const endSession = new URL(client.provider.discovery.end_session_endpoint);
  endSession.search = new URLSearchParams({
    id_token_hint: tokens.id_token,
    post_logout_redirect_uri: `${client.origin}/signed-out`,
    state: 'logout-state',
  }).toString();
  const confirmPage = await jarFetch(jar, endSession.href);
  const html = await confirmPage.text();
  const { action, fields } = formOf(html);
  check('end_session shows a confirmation form', confirmPage.status === 200 && Boolean(action && fields.xsrf), html.slice(0, 200));
  check('logout page loads nothing from outside', !/https?:\/\/(?!127\.0\.0\.1)/.test(html));

  const confirmed = await jarFetch(jar, new URL(action, endSession).href, {
    method: 'POST',
    body: new URLSearchParams({ xsrf: fields.xsrf, logout: 'yes' }),
  });
  const expectedTarget = `${client.origin}/signed-out?state=logout-state`;
  if (frontchannel) {
    const page = await confirmed.text();
    const iframe = page.match(/<iframe[^>]*src="([^"]+)"/)?.[1]?.replace(/&#38;|&amp;/g, '&');
    const frontchannelUrl = iframe ? new URL(iframe) : null;
    check('confirmation page loads the front-channel logout URL', confirmed.status === 200
      && frontchannelUrl?.pathname === '/frontchannel-logout', iframe);
    check('front-channel URL carries the ID token\'s sid and nothing else',
      frontchannelUrl?.searchParams.get('sid') === claims.sid && [...frontchannelUrl.searchParams.keys()].length === 1, iframe);
    check('page continues to post_logout_redirect_uri with state', page.includes(JSON.stringify(expectedTarget)));
  } else {
    check('confirmation redirects to post_logout_redirect_uri with state', confirmed.status === 303
      && confirmed.headers.get('location') === expectedTarget, `${confirmed.status} ${confirmed.headers.get('location')}`);
  }

  const again = await jarFetch(jar, newAuthorizationRequest(client).url);
  const interaction = again.headers.get('location');
  const prompt = interaction ? formOf(await (await jarFetch(jar, new URL(interaction, endSession).href)).text()).fields.prompt : null;
  check('after logout the provider asks to sign in again', prompt === 'login', `${again.status} ${interaction} prompt=${prompt}`);
}

function runLoginScript(env) {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['login.mjs'], {
      cwd: HERE,
      env: { ...process.env, SCREENSHOT_DIR, ...env },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (data) => { stdout += data; });
    child.stderr.on('data', (data) => { stderr += data; });
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

async function checkBrowser(client) {
  section('headless Chromium: login.mjs');
  let started = Date.now();
  const run = await runLoginScript({ START_URL: `${client.origin}/start`, LOGIN: 'ada', PASSWORD: 'any-password' });
  console.log(`     (login.mjs took ${Date.now() - started} ms)`);
  check('login.mjs exits 0', run.code === 0, run.stderr.trim());
  let result = null;
  try {
    result = JSON.parse(run.stdout);
  } catch {
    check('login.mjs prints one JSON line', false, run.stdout);
  }
  if (result) {
    console.log(`     login.mjs printed: ${JSON.stringify({ ...result, text: `${result.text.slice(0, 120)}...` })}`);
    check('final URL is the client callback', new URL(result.url).origin === client.origin
      && new URL(result.url).pathname === '/callback', result.url);
    check('status 200', result.status === 200, String(result.status));
    const callbackPage = JSON.parse(result.text);
    check('callback query has code and state', Boolean(callbackPage.query.code && callbackPage.query.state),
      JSON.stringify(callbackPage.query));
    check('ID token from the browser sign-in has roles [Locker.Admin]', sameSet(callbackPage.claims.roles, ['Locker.Admin']));
    check('cookies list the client\'s cookies', sameSet(result.cookies, ['rp_state', 'rp_session']), JSON.stringify(result.cookies));
  }

  const stepUpStart = `${client.origin}/start?${new URLSearchParams({ claims: STEP_UP_CLAIMS })}`;
  const stepUp = await runLoginScript({ START_URL: stepUpStart, LOGIN: 'stepup', PASSWORD: 'x' });
  const stepUpClaims = stepUp.code === 0 ? JSON.parse(JSON.parse(stepUp.stdout).text).claims : {};
  check('browser step-up sign-in: acrs is [c1]', sameSet(stepUpClaims.acrs, ['c1']), stepUp.stderr.trim() || JSON.stringify(stepUpClaims.acrs));

  const unknown = await runLoginScript({ START_URL: `${client.origin}/start`, LOGIN: 'mallory', PASSWORD: 'x' });
  check('login.mjs fails clearly for an unknown user', unknown.code === 1 && /status 401.*Known users/.test(unknown.stderr)
    && /screenshot: \S+\.png/.test(unknown.stderr),
    unknown.stderr.trim());
  console.log(`     login.mjs stderr for the unknown user: ${unknown.stderr.trim().split('\n').join(' | ')}`);

  section('headless Chromium: sign-in, then logout with front-channel iframe');
  started = Date.now();
  const { browser, context, blocked } = await launchConfinedBrowser();
  try {
    const page = await context.newPage();
    const signedIn = await signIn(page, { startUrl: `${client.origin}/start`, login: 'user', password: 'x', timeout: 30000 });
    const { claims } = JSON.parse(signedIn.text);
    client.frontchannelSids.length = 0;
    await page.goto(`${client.origin}/logout`, { waitUntil: 'load' });
    await Promise.all([
      page.waitForURL((url) => url.pathname === '/signed-out', { timeout: 30000 }),
      page.click('button[name="logout"]'),
    ]);
    check('browser ends on post_logout_redirect_uri with state', page.url() === `${client.origin}/signed-out?state=logout-state`, page.url());
    check('client received the front-channel GET with the ID token\'s sid', sameSet(client.frontchannelSids, [claims.sid]),
      JSON.stringify(client.frontchannelSids));
    check('requests outside 127.0.0.1 were blocked (Google Fonts)', blocked.length > 0
      && blocked.every((url) => !url.startsWith('http://127.0.0.1')), JSON.stringify([...new Set(blocked)]));
  } finally {
    await browser.close();
  }
  console.log(`     (browser sign-in and logout took ${Date.now() - started} ms)`);
}

async function main() {
  const client = await startClient();
  const providers = [];
  try {
    const provider = await startProvider(client, { FRONTCHANNEL_LOGOUT_URI: `${client.origin}/frontchannel-logout` });
    providers.push(provider);
    await checkDiscovery(client, provider);
    await checkCodeFlow(client);
    await checkOverageAndStepUp(client);
    await checkLogout(client, { frontchannel: true });
    if (process.env.SKIP_BROWSER === '1') {
      console.log('\n# headless Chromium: skipped (SKIP_BROWSER=1)');
    } else {
      await checkBrowser(client);
    }

    const plain = await startProvider(client);
    providers.push(plain);
    await checkDiscovery(client, plain);
    await checkLogout(client, { frontchannel: false });
    check('second provider printed only its ready line', plain.extraLines.length === 0 && provider.extraLines.length === 0);
  } catch (err) {
    check('selfcheck ran to the end', false, err.stack);
  } finally {
    if (failed > 0 || process.env.SHOW_PROVIDER_STDERR === '1') {
      for (const provider of providers) console.log(`\nprovider stderr (${provider.issuer}):\n${provider.stderr()}`);
    }
    for (const provider of providers) provider.child.kill();
    client.server.close();
    rmSync(SCREENSHOT_DIR, { recursive: true, force: true });
  }
  console.log(`\n${passed} passed, ${failed} failed`);
  process.exitCode = failed === 0 ? 0 : 1;
}

await main();
