// A real OpenID Provider for the login tests: panva's certified `oidc-provider`.
//
// Configuration comes from the environment (the pytest fixture sets it):
//   PORT      port to listen on, on 127.0.0.1 (the test picks a free one)
//   CLIENTS   JSON list of client registrations (client_id, client_secret, redirect_uris)
//   ACCOUNTS  JSON object {accountId: {acr, claims: {...}}}: who can log in, with which
//             assurance level, and which claims they have (the CPR claim, roles, unit, name)
//   JWKS      JSON {keys: [private JWK]}: the signing key (the test knows it, so it can
//             also make tokens the portal must refuse)
//   SHORT_ID_TOKEN_ACCOUNTS  comma-separated account ids whose ID tokens live 1 second
//
// Prints one line `{"issuer": "..."}` on stdout when it is listening.
//
// Interactions are our own two tiny endpoints (devInteractions is off): a login form that
// takes an account id, and a POST that finishes the login with that account's `acr`.
// Consent is implied for the test clients (loadExistingGrant makes the grant).

import http from 'node:http';
import process from 'node:process';

import Provider from 'oidc-provider';

const port = Number(process.env.PORT || 0);
const clients = JSON.parse(process.env.CLIENTS || '[]');
const accounts = JSON.parse(process.env.ACCOUNTS || '{}');
const jwks = JSON.parse(process.env.JWKS);
const shortLived = new Set((process.env.SHORT_ID_TOKEN_ACCOUNTS || '').split(',').filter(Boolean));
const cprClaim = 'https://data.gov.dk/model/core/eid/cprNumber';

function escapeHtml(value) {
  return String(value).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function readForm(req) {
  return new Promise((resolve, reject) => {
    let body = '';
    req.on('data', (chunk) => { body += chunk; });
    req.on('end', () => resolve(new URLSearchParams(body)));
    req.on('error', reject);
  });
}

function start(issuer) {
  const provider = new Provider(issuer, {
    clients: clients.map((c) => ({
      grant_types: ['authorization_code'],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_basic',
      ...c,
    })),
    jwks,
    cookies: { keys: ['test-provider-cookie-key-0123456789'] },
    pkce: { required: () => true },
    features: { devInteractions: { enabled: false } },
    interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
    acrValues: ['low', 'substantial', 'high'],
    claims: {
      openid: ['sub', cprClaim, 'cprNumberIdentifier', 'roles', 'unit'],
      profile: ['name'],
    },
    // Put the scope's claims in the ID token too (as NemLog-in does).
    conformIdTokenClaims: false,
    ttl: {
      AccessToken: 600,
      AuthorizationCode: 60,
      Grant: 600,
      Interaction: 600,
      Session: 600,
      IdToken: (ctx, token) => (shortLived.has(token?.available?.sub) ? 1 : 600),
    },
    async findAccount(ctx, id) {
      const account = accounts[id];
      if (!account) return undefined;
      return {
        accountId: id,
        async claims() { return { sub: id, ...account.claims }; },
      };
    },
    async loadExistingGrant(ctx) {
      const grantId = ctx.oidc.result?.consent?.grantId
        || ctx.oidc.session.grantIdFor(ctx.oidc.client.clientId);
      if (grantId) return ctx.oidc.provider.Grant.find(grantId);
      // First-party test clients: consent is implied.
      const grant = new ctx.oidc.provider.Grant({
        clientId: ctx.oidc.client.clientId,
        accountId: ctx.oidc.session.accountId,
      });
      grant.addOIDCScope('openid profile');
      await grant.save();
      return grant;
    },
  });

  const callback = provider.callback();

  return async (req, res) => {
    const url = new URL(req.url, issuer);
    const match = url.pathname.match(/^\/interaction\/([^/]+)(\/login)?$/);
    if (!match) {
      callback(req, res);
      return;
    }
    try {
      const details = await provider.interactionDetails(req, res);
      if (req.method === 'GET') {
        res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
        res.end(`<!DOCTYPE html><title>Test login</title>
<form method="post" action="/interaction/${escapeHtml(details.uid)}/login">
<label>Account <input name="login"></label><button type="submit">Log in</button></form>`);
        return;
      }
      const form = await readForm(req);
      const accountId = form.get('login') || '';
      const account = accounts[accountId];
      const result = account
        ? { login: { accountId, acr: account.acr } }
        : { error: 'access_denied', error_description: 'unknown test account' };
      await provider.interactionFinished(req, res, result, { mergeWithLastSubmission: false });
    } catch (err) {
      res.writeHead(400, { 'Content-Type': 'text/plain' });
      res.end(String(err && err.message));
    }
  };
}

const server = http.createServer();
server.listen(port, '127.0.0.1', () => {
  const issuer = `http://127.0.0.1:${server.address().port}`;
  const handler = start(issuer);
  server.on('request', handler);
  process.stdout.write(`${JSON.stringify({ issuer })}\n`);
});

process.on('SIGTERM', () => server.close(() => process.exit(0)));
