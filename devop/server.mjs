// The development OpenID Provider for stepgate, built on the `oidc-provider` package.
//
// Any user name signs in (no password); consent is automatic; the login page
// asks every time, so a second sign-in can bring changed claims. Profile claims
// are typed on the login page (or derived from the user name). `sub` is an
// opaque, stable id derived from the user name. The login page also takes the
// `amr` values (space- or comma-separated) and the `acr` the ID token asserts,
// so tests can play a provider that did, or did not, ask for a second factor.
// NEVER use it in production.
//
//   node server.mjs --port 9000 --issuer http://127.0.0.1:9000 \
//        --client stepgate:dev-only-client-secret:http://127.0.0.1:5000/oam/server/oidc/callback
//
// Environment instead of arguments: DEVOP_PORT, DEVOP_ISSUER, DEVOP_CLIENTS
// (a JSON array of {client_id, client_secret, redirect_uris}).
import { createHash, generateKeyPairSync, randomBytes } from 'node:crypto';
import http from 'node:http';
import { parseArgs } from 'node:util';

import Provider, { interactionPolicy } from 'oidc-provider';

const { values: args } = parseArgs({
  options: {
    port: { type: 'string' },
    issuer: { type: 'string' },
    client: { type: 'string', multiple: true },
    'allow-registration': { type: 'boolean' }, // open dynamic client registration, for the test suite
  },
});

const port = Number(args.port || process.env.DEVOP_PORT || 9000);
const issuer = (args.issuer || process.env.DEVOP_ISSUER || `http://127.0.0.1:${port}`).replace(/\/$/, '');
const clients = (args.client || []).map(parseClient);
if (!clients.length && process.env.DEVOP_CLIENTS) clients.push(...JSON.parse(process.env.DEVOP_CLIENTS));
if (!clients.length) {
  clients.push(parseClient('stepgate:dev-only-client-secret:http://127.0.0.1:5000/oam/server/oidc/callback'));
}

function parseClient(text) {
  // id:secret:redirect_uri[|redirect_uri...]; a redirect URI contains ':' itself, so split twice only
  const first = text.indexOf(':');
  const second = text.indexOf(':', first + 1);
  if (first < 1 || second < 0) throw new Error(`--client ${text}: expected id:secret:redirect_uri`);
  return {
    client_id: text.slice(0, first),
    client_secret: text.slice(first + 1, second),
    redirect_uris: text.slice(second + 1).split('|'),
  };
}

const accounts = new Map(); // sub -> claims typed at the last login
const subjectOf = (login) => createHash('sha256').update(`devop:${login}`).digest('hex').slice(0, 24);

function signingKey() {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return { ...privateKey.export({ format: 'jwk' }), kid: randomBytes(8).toString('hex'), use: 'sig', alg: 'RS256' };
}

// Ask for a login at every authorization request, so each sign-in can carry new claims.
const policy = interactionPolicy.base();
policy.get('login').checks.add(new interactionPolicy.Check(
  'devop_always_login',
  'the development provider asks every time',
  (ctx) => (ctx.oidc.result?.login ? interactionPolicy.Check.NO_NEED_TO_PROMPT : interactionPolicy.Check.REQUEST_PROMPT),
));

const provider = new Provider(issuer, {
  clients: clients.map((c) => ({
    ...c,
    grant_types: ['authorization_code'],
    response_types: ['code'],
    token_endpoint_auth_method: c.token_endpoint_auth_method || 'client_secret_basic',
  })),
  jwks: { keys: [signingKey()] },
  cookies: { keys: [randomBytes(32).toString('hex')] },
  claims: {
    openid: ['sub', 'acr', 'amr'], // acr and amr whenever the login page asserted them, unrequested
    email: ['email', 'email_verified'],
    profile: ['name', 'given_name', 'family_name', 'preferred_username', 'locale', 'picture'],
  },
  conformIdTokenClaims: false, // profile claims in the ID token too, as Google sends them
  acrValues: ['urn:devop:loa:1', 'urn:devop:loa:2'], // what the login page's acr field may assert
  features: {
    devInteractions: { enabled: false },
    registration: { enabled: Boolean(args['allow-registration']) },
  },
  pkce: { methods: ['S256'], required: () => true },
  interactions: { policy, url: (ctx, interaction) => `/interaction/${interaction.uid}` },
  async findAccount(ctx, sub) {
    const claims = accounts.get(sub);
    if (!claims) return undefined;
    return { accountId: sub, claims: async () => ({ sub, ...claims }) };
  },
  async loadExistingGrant(ctx) {
    // Automatic consent: grant whatever the client asked for.
    const existing = ctx.oidc.result?.consent?.grantId || ctx.oidc.session.grantIdFor(ctx.oidc.client.clientId);
    if (existing) return ctx.oidc.provider.Grant.find(existing);
    const grant = new ctx.oidc.provider.Grant({ clientId: ctx.oidc.client.clientId, accountId: ctx.oidc.session.accountId });
    grant.addOIDCScope(ctx.oidc.params.scope || 'openid');
    await grant.save();
    return grant;
  },
});

const escape = (s) => String(s ?? '').replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function loginPage(uid, clientId) {
  const field = (name, label, type = 'text') => `<label>${label}<input name="${name}" type="${type}"></label>`;
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Development provider</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:30rem;margin:3rem auto}label{display:block;margin:.6rem 0}
input[type=text]{display:block;width:100%;padding:.4rem}</style></head><body>
<h1>Development provider</h1><p>Signing in to <code>${escape(clientId)}</code>. Any user name works; no password.</p>
<form id="devop-login" method="post" action="/interaction/${escape(uid)}/login">
${field('login', 'User name')}${field('given_name', 'Given name (optional)')}${field('family_name', 'Family name (optional)')}
${field('email', 'Email (optional)')}<label><input name="email_unverified" type="checkbox" value="true"> Email not verified</label>
${field('locale', 'Locale (optional)')}
${field('amr', 'Authentication methods to assert, amr (optional, e.g. pwd mfa)')}${field('acr', 'acr to assert (optional)')}
<button type="submit">Sign in</button></form>
<form id="devop-cancel" method="post" action="/interaction/${escape(uid)}/abort"><button type="submit">Cancel</button></form>
</body></html>`;
}

function claimsFrom(form) {
  const login = form.get('login').trim();
  const given = form.get('given_name')?.trim() || login.charAt(0).toUpperCase() + login.slice(1);
  const family = form.get('family_name')?.trim() || 'Example';
  return {
    preferred_username: login,
    given_name: given,
    family_name: family,
    name: `${given} ${family}`,
    email: form.get('email')?.trim() || `${login}@example.org`,
    email_verified: form.get('email_unverified') !== 'true',
    locale: form.get('locale')?.trim() || 'en',
  };
}

async function readForm(req) {
  let body = '';
  for await (const chunk of req) {
    body += chunk;
    if (body.length > 65536) throw new Error('form too large');
  }
  return new URLSearchParams(body);
}

async function interaction(req, res, path) {
  const [, , uid, action] = path.split('/');
  const details = await provider.interactionDetails(req, res);
  if (details.uid !== uid) throw new Error('interaction mismatch');
  if (req.method === 'GET' && !action) {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
    res.end(loginPage(uid, details.params.client_id));
    return;
  }
  if (req.method === 'POST' && action === 'abort') {
    await provider.interactionFinished(req, res, {
      error: 'access_denied', error_description: 'End-User cancelled the sign-in',
    }, { mergeWithLastSubmission: false });
    return;
  }
  if (req.method === 'POST' && action === 'login') {
    const form = await readForm(req);
    if (!form.get('login')?.trim()) {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      res.end(loginPage(uid, details.params.client_id));
      return;
    }
    const sub = subjectOf(form.get('login').trim());
    accounts.set(sub, claimsFrom(form));
    const amr = (form.get('amr') || '').split(/[\s,]+/).filter(Boolean);
    const acr = form.get('acr')?.trim();
    const login = { accountId: sub, ...(amr.length ? { amr } : {}), ...(acr ? { acr } : {}) };
    await provider.interactionFinished(req, res, { login }, { mergeWithLastSubmission: false });
    return;
  }
  res.writeHead(405).end();
}

const handler = provider.callback();
const server = http.createServer((req, res) => {
  const path = new URL(req.url, issuer).pathname;
  if (!path.startsWith('/interaction/')) return handler(req, res);
  return interaction(req, res, path).catch((err) => {
    res.writeHead(400, { 'content-type': 'text/plain' });
    res.end(`development provider: ${err.message}`);
  });
});

server.listen(port, '127.0.0.1', () => {
  console.log(`devop: OpenID Provider ${issuer} listening on 127.0.0.1:${port}`);
});
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => server.close(() => process.exit(0)));
