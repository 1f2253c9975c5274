/**
 * Tokens: JWTs (jose) signed with the cluster's key — an ES256 key pair generated at the first
 * start of a cluster and kept in the Store (`/iam/signing-key`, created with a compare-and-set so
 * two masters starting at once agree on one key). Every token carries an expiry.
 *
 * Claims: `uid` (DC/OS's claim name) and `exp`; an agent's token also names its agent id
 * (`agent_id`), which is what binds an agent id to the agent that holds the token.
 *
 * DC/OS service-account login: the account signs `{uid, exp}` with its own RSA private key
 * (RS256); `verifyServiceLogin` checks it against the public key registered on the account.
 */
import { type CryptoKey, exportJWK, generateKeyPair, importJWK, importSPKI, type JWK, jwtVerify, SignJWT } from 'jose';
import { DroverError } from '../errors/errors.ts';
import type { Store } from '../store/store.ts';
import { MAX_SECRET_LENGTH } from './secrets.ts';

export const SIGNING_KEY = '/iam/signing-key';
const ISSUER = 'drover';
/** DC/OS's default: tokens expire after 5 days. */
export const DEFAULT_TOKEN_TTL_SECONDS = 5 * 24 * 3600;
/** How many verified tokens a signer keeps (a few hundred bytes each). */
const VERIFIED_MAX = 20_000;

export interface TokenClaims {
  uid: string;
  /** Present on agent tokens: the agent id this token may act as. */
  agent_id?: string;
  /** Present on delegated tokens: what the holder may ask about on `uid`'s behalf ('sandbox'). */
  scope?: string;
  exp: number;
}

export class TokenSigner {
  private constructor(
    private readonly privateKey: CryptoKey,
    private readonly publicKey: CryptoKey,
    private readonly now: () => number,
  ) {}

  /** The cluster's signing key from the store, generated on the first start. */
  static async open(store: Store, now: () => number = Date.now): Promise<TokenSigner> {
    let stored = await store.get(SIGNING_KEY);
    if (!stored) {
      const pair = await generateKeyPair('ES256', { extractable: true });
      const jwk = { privateKey: await exportJWK(pair.privateKey), publicKey: await exportJWK(pair.publicKey) };
      // Another master may be generating one at the same moment: the first write wins, all use it.
      await store.txn({ compare: [{ key: SIGNING_KEY, target: 'version', op: '=', value: 0 }], success: [{ type: 'put', key: SIGNING_KEY, value: JSON.stringify(jwk) }] });
      stored = await store.get(SIGNING_KEY);
      if (!stored) throw new DroverError('STORE_UNAVAILABLE', 'The cluster signing key could not be stored');
    }
    const jwk = JSON.parse(stored.value) as { privateKey: JWK; publicKey: JWK };
    return new TokenSigner((await importJWK(jwk.privateKey, 'ES256')) as CryptoKey, (await importJWK(jwk.publicKey, 'ES256')) as CryptoKey, now);
  }

  async issue(claims: { uid: string; agent_id?: string; scope?: string }, ttlSeconds = DEFAULT_TOKEN_TTL_SECONDS): Promise<string> {
    const nowSeconds = Math.floor(this.now() / 1000);
    return new SignJWT({ ...claims })
      .setProtectedHeader({ alg: 'ES256', typ: 'JWT' })
      .setIssuer(ISSUER)
      .setIssuedAt(nowSeconds)
      .setExpirationTime(nowSeconds + ttlSeconds)
      .sign(this.privateKey);
  }

  /**
   * Tokens this signer found valid, with their claims. Checking a signature (ECDSA P-256 through
   * WebCrypto) costs ~0.4 ms of CPU on the master's loop, and every agent call and heartbeat carries
   * a token: with 500 hollow agents it was ~10 % of the master's CPU profile (design note 022). A token's
   * signature stays valid for the key that checked it, so only its expiry is read again on a hit;
   * an account's deletion is checked by the caller on every request, cached or not. Bounded: the
   * oldest entry goes first once VERIFIED_MAX tokens are kept; only valid tokens are kept, which
   * only this cluster's key can make.
   */
  private readonly verified = new Map<string, TokenClaims>();

  /** The claims of a valid, unexpired token of this cluster; undefined otherwise. */
  async verify(token: string): Promise<TokenClaims | undefined> {
    if (token.length > MAX_SECRET_LENGTH) return undefined;
    const known = this.verified.get(token);
    if (known !== undefined) {
      // jose's rule: a token whose `exp` is now or past is expired.
      if (known.exp > Math.floor(this.now() / 1000)) return known;
      this.verified.delete(token);
      return undefined;
    }
    try {
      const { payload } = await jwtVerify(token, this.publicKey, { issuer: ISSUER, algorithms: ['ES256'], currentDate: new Date(this.now()) });
      if (typeof payload.uid !== 'string' || typeof payload.exp !== 'number') return undefined;
      const claims: TokenClaims = Object.freeze({
        uid: payload.uid,
        exp: payload.exp,
        ...(typeof payload['agent_id'] === 'string' ? { agent_id: payload['agent_id'] } : {}),
        ...(typeof payload['scope'] === 'string' ? { scope: payload['scope'] } : {}),
      });
      if (this.verified.size >= VERIFIED_MAX) this.verified.delete(this.verified.keys().next().value!);
      this.verified.set(token, claims);
      return claims;
    } catch {
      return undefined;
    }
  }
}

/** A DC/OS service login token: RS256, `{uid, exp}`, signed by the account's private key. */
export async function verifyServiceLogin(token: string, uid: string, publicKeyPem: string, now: number = Date.now()): Promise<boolean> {
  if (token.length > MAX_SECRET_LENGTH) return false;
  try {
    const key = await importSPKI(publicKeyPem, 'RS256');
    const { payload } = await jwtVerify(token, key, { algorithms: ['RS256'], currentDate: new Date(now), requiredClaims: ['exp'] });
    return payload.uid === uid;
  } catch {
    return false;
  }
}

/** Is `pem` an RSA public key jose can use for RS256? */
export async function checkPublicKey(pem: string): Promise<void> {
  try {
    if (pem.length > 8192) throw new Error('too long');
    await importSPKI(pem, 'RS256');
  } catch {
    throw new DroverError('VALIDATION', 'Invalid public key', { details: [{ path: '/public_key', errors: ['an RSA public key in PEM (SPKI) form'] }] });
  }
}
