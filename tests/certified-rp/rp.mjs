// A relying party written with openid-client 6 (OpenID Certified), using its own PAR and DPoP
// support unchanged: discovery, a pushed authorization request bound to a DPoP key, the code
// exchange, userinfo and a refresh, each with openid-client's DPoP handle. Driven by the e2e
// test `dpop::a_certified_library_signs_in_with_par_and_dpop`: prints the authorization URL,
// reads the callback URL on stdin, prints the outcome as JSON.
import * as client from 'openid-client'
import * as readline from 'node:readline'

const [issuer, clientId, secret, redirectUri, alg] = process.argv.slice(2)
const config = await client.discovery(
  new URL(issuer),
  clientId,
  { redirect_uris: [redirectUri], response_types: ['code'] },
  client.ClientSecretBasic(secret),
  { execute: [client.allowInsecureRequests] },
)
const keyPair = await client.randomDPoPKeyPair(alg)
const dpop = client.getDPoPHandle(config, keyPair)
const verifier = client.randomPKCECodeVerifier()
const state = client.randomState()
const nonce = client.randomNonce()
const url = await client.buildAuthorizationUrlWithPAR(
  config,
  {
    redirect_uri: redirectUri,
    scope: 'openid profile',
    code_challenge: await client.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    state,
    nonce,
  },
  { DPoP: dpop },
).catch((e) => {
  console.log(JSON.stringify({ error: String(e), cause: e.cause ?? null }))
  process.exit(1)
})
console.log(JSON.stringify({ authorize: url.href }))

const rl = readline.createInterface({ input: process.stdin })
const callback = await new Promise((resolve) => rl.once('line', resolve))
rl.close()
try {
  const tokens = await client.authorizationCodeGrant(
    config,
    new URL(callback),
    { pkceCodeVerifier: verifier, expectedState: state, expectedNonce: nonce, idTokenExpected: true },
    undefined,
    { DPoP: dpop },
  )
  const claims = tokens.claims()
  const info = await client.fetchUserInfo(config, tokens.access_token, claims.sub, { DPoP: dpop })
  const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token, undefined, { DPoP: dpop })
  console.log(JSON.stringify({
    token_type: tokens.token_type,
    sub: claims.sub,
    userinfo_sub: info.sub,
    refreshed_token_type: refreshed.token_type,
  }))
} catch (e) {
  console.log(JSON.stringify({ error: String(e), cause: e.cause ?? null }))
}
