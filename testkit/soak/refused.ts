// Tokens and headers the authorizer must always refuse: forgeries, tampered real tokens, tokens of a removed
// key, expired ones, and headers that are not "Bearer <one compact JWS>".
import { labelKey, newId } from '../../shared/sessions/keys';
import { proxyEvent } from '../events';
import type { Container } from '../cold-start';
import { ALL_ALGS, b64url, decodeJws, encodeSegment, forgeJws } from '../jws';
import type { Refused, TokenCatalogue } from './catalogue';
import { AUDIENCE, ISSUER, KEYS, type Admin } from './deployment';
import type { SeededRandom } from './random';

/**
 * Forged tokens, and tokens of our key that have expired, four copies of each: given a label, so that only
 * the signature and claim checks can stop them.
 */
export async function addForgedAndExpired(catalogue: TokenCatalogue, admin: Admin): Promise<void> {
  const now = Math.floor(Date.now() / 1000);
  const claimsFor = (sub: string, jti = newId(sub)) => ({ sub, jti, iat: now, exp: now + 3600, iss: ISSUER, aud: AUDIENCE });
  const withLabel = async (token: string) => {
    const { jti } = decodeJws(token).payload;
    if (typeof jti === 'string') await admin.set(labelKey(jti), String(Date.now()), { EX: 3600 });
    return token;
  };
  const current = KEYS.current;
  const header = (extra: Record<string, unknown> = {}) => ({ alg: 'HS256', typ: 'JWT', kid: current.kid, ...extra });
  for (let copy = 0; copy < 4; copy += 1) {
    const sub = `forged-${copy}`;
    const forged = async (variant: string, options: Parameters<typeof forgeJws>[0]) =>
      catalogue.addRefused('forged', variant, await withLabel(forgeJws(options)));
    await forged('unknown secret', { header: header(), payload: claimsFor(sub), secret: 'an-attacker-secret-0123456789abcdefghij' });
    catalogue.addRefused('forged', 'our key, never issued (no label)', forgeJws({ header: header(), payload: claimsFor(sub), secret: current.secret }));
    await forged('wrong iss', { header: header(), payload: { ...claimsFor(sub), iss: 'someone-else' }, secret: current.secret });
    await forged('wrong aud', { header: header(), payload: { ...claimsFor(sub), aud: 'another-api' }, secret: current.secret });
    await forged('no aud', { header: header(), payload: { ...claimsFor(sub), aud: undefined }, secret: current.secret });
    await forged('no exp', { header: header(), payload: { ...claimsFor(sub), exp: undefined }, secret: current.secret });
    await forged('exp as a string', { header: header(), payload: { ...claimsFor(sub), exp: String(now + 3600) }, secret: current.secret });
    await forged('not valid before an hour', { header: header(), payload: { ...claimsFor(sub), nbf: now + 3600 }, secret: current.secret });
    await forged("another subject's jti", { header: header(), payload: claimsFor(sub, newId('someone-else')), secret: current.secret });
    await forged('jti not ours', { header: header(), payload: { ...claimsFor(sub), jti: `plain-${copy}` }, secret: current.secret });
    await forged('empty sub', { header: header(), payload: claimsFor(''), secret: current.secret });
    for (const alg of ALL_ALGS.filter((name) => name !== 'HS256')) {
      await forged(`alg ${alg}`, { header: header({ alg }), payload: claimsFor(sub), secret: current.secret });
    }
    await forged('alg none with an HS256 signature', { header: header({ alg: 'none' }), payload: claimsFor(sub), secret: current.secret, signingAlg: 'HS256' });
    await forged('alg hs256 (lower case)', { header: header({ alg: 'hs256' }), payload: claimsFor(sub), secret: current.secret, signingAlg: 'HS256' });
    await forged('no alg', { header: { typ: 'JWT', kid: current.kid }, payload: claimsFor(sub), secret: current.secret, signingAlg: 'HS256' });
    await forged('previous key, current kid', { header: header(), payload: claimsFor(sub), secret: KEYS.previous.secret });
    await forged('current key, previous kid', { header: header({ kid: KEYS.previous.kid }), payload: claimsFor(sub), secret: current.secret });
    await forged('current key, removed kid', { header: header({ kid: KEYS.removed.kid }), payload: claimsFor(sub), secret: current.secret });
    for (const kid of [undefined, '', 42, ['2026-12'], { kid: '2026-12' }, '../../etc/passwd', '__proto__', 'constructor', 'toString', '2026-12 ']) {
      await forged(`kid ${JSON.stringify(kid)}`, { header: header({ kid }), payload: claimsFor(sub), secret: current.secret });
    }
    await forged('embedded jwk', { header: header({ jwk: { kty: 'oct', k: b64url('attacker') } }), payload: claimsFor(sub), secret: 'attacker' });
    catalogue.addRefused(
      'expired',
      'our key, expired, label still there',
      await withLabel(forgeJws({ header: header(), payload: { ...claimsFor(sub), iat: now - 120, exp: now - 60 }, secret: current.secret })),
    );
  }
}

/** Real tokens of subjects nobody logs out, changed after signing. */
export async function addTampered(catalogue: TokenCatalogue, main: Container): Promise<void> {
  const originals: Array<{ token: string }> = [];
  for (let i = 0; i < 8; i += 1) {
    const issued = await main.sign(
      proxyEvent({ method: 'POST', path: '/auth/token', body: JSON.stringify({ sub: `tamper-source-${i}`, claims: { role: 'user' }, ttl: 86_400 }) }),
    );
    if (issued.statusCode !== 201) throw new Error(`soak setup: sign answered ${issued.statusCode}`);
    originals.push(JSON.parse(issued.body) as { token: string });
  }
  const add = (variant: string, token: string) => catalogue.addRefused('tampered', variant, token);
  originals.forEach(({ token }, i) => {
    const { header: head, payload, segments } = decodeJws(token);
    const other = decodeJws((originals[(i + 1) % originals.length] as { token: string }).token);
    const [h, p, s] = segments;
    add('role raised', `${h}.${encodeSegment({ ...payload, role: 'admin' })}.${s}`);
    add('exp extended', `${h}.${encodeSegment({ ...payload, exp: (payload.exp as number) + 86_400 })}.${s}`);
    add('sub changed', `${h}.${encodeSegment({ ...payload, sub: 'tamper-source-admin' })}.${s}`);
    add("another token's signature", `${h}.${p}.${other.segments[2]}`);
    add("another token's payload", `${h}.${other.segments[1]}.${s}`);
    add('alg none, signature dropped', `${encodeSegment({ ...head, alg: 'none' })}.${p}.`);
    add('kid switched', `${encodeSegment({ ...head, kid: KEYS.previous.kid })}.${p}.${s}`);
    add('signature truncated', `${h}.${p}.${s.slice(0, -4)}`);
    add('signature first byte flipped', `${h}.${p}.${s[0] === 'A' ? 'B' : 'A'}${s.slice(1)}`);
    add('payload re-encoded with padding', `${h}.${p}==.${s}`);
  });
}

/** Tokens signed by a deployment whose key has since been removed from the ring: labels and all. */
export async function addRemovedKey(catalogue: TokenCatalogue, signRemoved: () => Promise<{ token: string } | undefined>): Promise<void> {
  for (let i = 0; i < 32; i += 1) {
    const issued = await signRemoved();
    if (issued === undefined) throw new Error('soak setup: the removed-key container could not sign');
    catalogue.addRefused('removed-key', 'signed by a removed key', issued.token);
  }
}

/** A header that is not "Bearer <one compact JWS>", built around a real token (`live`) where that makes it harder. */
export function malformedHeader(random: SeededRandom, live: string): Refused {
  const [variant, header] = random.pick<() => [string, string | undefined]>([
    () => ['no header', undefined],
    () => ['empty', ''],
    () => ['scheme only', 'Bearer'],
    () => ['scheme and a space', 'Bearer '],
    () => ['Basic', `Basic ${b64url('user:password')}`],
    () => ['another scheme, real token', `Token ${live}`],
    () => ['no scheme, real token', live],
    () => ['two tokens', `Bearer ${live} ${live}`],
    () => ['two tokens, comma', `Bearer ${live},${live}`],
    () => ['four segments', `Bearer ${live}.${live.split('.')[2]}`],
    () => ['two segments', `Bearer ${live.split('.').slice(0, 2).join('.')}`],
    () => ['header line break inside', `Bearer ${live.slice(0, 20)}\n${live.slice(20)}`],
    () => ['oversize', `Bearer ${'A'.repeat(9000)}.${'B'.repeat(10)}.${'C'.repeat(10)}`],
    () => ['random UTF-16', `Bearer ${Array.from({ length: random.int(1, 40) }, () => String.fromCharCode(random.int(0, 0xffff))).join('')}`],
    () => ['random ASCII', Array.from({ length: random.int(1, 80) }, () => String.fromCharCode(random.int(0, 0x7f))).join('')],
    () => ['payload not JSON', `Bearer ${encodeSegment({ alg: 'HS256' })}.${encodeSegment('not json')}.${b64url('x')}`],
    () => ['header not JSON', `Bearer ${encodeSegment('[')}.${encodeSegment({})}.${b64url('x')}`],
    () => ['typ JWT, payload not JSON', `Bearer ${encodeSegment({ alg: 'HS256', typ: 'JWT', kid: KEYS.current.kid })}.${b64url('not json')}.${b64url('x')}`],
  ])();
  return { header, category: 'malformed', variant };
}
