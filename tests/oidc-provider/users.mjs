// The provider's invented users, read from users.json, which the Rust test support reads too.
//
// users.json maps each login name to the claims Entra would send for that user, except `tid`
// (provider.mjs adds TENANT_ID), `sid` (from the provider session) and `sub` (pairwise). All
// values are made up; the GUIDs were generated once with uuid4 and stay fixed so tests can
// assert them. Two users are special:
// - `overage` has no `groups`. Like an Entra user in more groups than fit in a token, it carries
//   `_claim_names: {"groups": "src1"}` and `_claim_sources.src1.endpoint`, which points at port 9
//   (discard) on loopback. Nothing serves it, so a client that follows the URL fails; a correct
//   client asks Microsoft Graph at an address from its own configuration.
// - `stepup` lists in `satisfiesAuthContexts` the authentication context IDs its sign-in
//   satisfies; its ID token carries `acrs` only for those the client requests.

import { readFileSync } from 'node:fs';

const document = JSON.parse(readFileSync(new URL('./users.json', import.meta.url), 'utf8'));

export const { groups: GROUPS, users: USERS } = document;
export const OVERAGE_GROUPS_ENDPOINT = USERS.overage._claim_sources.src1.endpoint;
