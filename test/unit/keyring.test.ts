import { inspect } from 'node:util';
import { ConfigError, KeyringUnavailableError } from '../../shared/errors';
import { fetchKeyring, type ParameterReader } from '../../shared/auth/keyring';
import { DEVELOPMENT_SECRET, loadConfig } from '../../shared/config';

const SECRET_A = 'ssm-secret-a-0123456789abcdefghijklmn';
const SECRET_B = 'ssm-secret-b-0123456789abcdefghijklmn';
const PARAMETER = '/revocable-jwt/prod/jwt-keys';
// Valid secrets (32 bytes or more) in several character sets, none with a comma, and none sharing 8
// characters with the error messages, so that any piece of one found in an error was copied from the value.
const ASCII_SECRET = 'Xq9!vR#2mZ@7pL$4wK%8nB^1tY&6hJ*3';
const LATIN_SECRET = 'pässwörd-ünïcødé-Schlüssel-größer';
const CYRILLIC_SECRET = 'секретный-ключ-подписи-токенов';
const CJK_SECRET = '署名鍵の秘密は三十二バイト以上';
const EMOJI_SECRET = '🔑🗝🔐-Zauberwort-😀😃😄😁';

function reader(result: string | undefined | Error): ParameterReader & jest.Mock {
  return jest.fn(async () => {
    if (result instanceof Error) throw result;
    return result;
  });
}

describe('Function: fetchKeyring (a stand-in for SSM)', () => {
  it('reads the decrypted parameter as a keyring, newest first', async () => {
    const read = reader(` 2026-12:${SECRET_B},2026-11:${SECRET_A}\n`);
    await expect(fetchKeyring(PARAMETER, 1000, read)).resolves.toEqual([
      { kid: '2026-12', secret: SECRET_B },
      { kid: '2026-11', secret: SECRET_A },
    ]);
    expect(read).toHaveBeenCalledWith(PARAMETER, expect.any(AbortSignal));
  });

  it('gives the read a signal that aborts at the time bound', async () => {
    let signal: AbortSignal | undefined;
    const hanging: ParameterReader = (_, given) =>
      new Promise((_resolve, reject) => {
        signal = given;
        given.addEventListener('abort', () => reject(given.reason as unknown));
      });
    await expect(fetchKeyring(PARAMETER, 50, hanging)).rejects.toThrow(KeyringUnavailableError);
    expect(signal?.aborted).toBe(true);
  });

  it('reports an unreachable or forbidden parameter as KeyringUnavailableError, naming it', async () => {
    const denied = Object.assign(new Error('User is not authorized to perform: ssm:GetParameter'), { name: 'AccessDeniedException' });
    const failure = fetchKeyring(PARAMETER, 1000, reader(denied));
    await expect(failure).rejects.toThrow(KeyringUnavailableError);
    await expect(failure).rejects.toThrow(`cannot read the keyring parameter ${PARAMETER}: AccessDeniedException`);
  });

  /** What a thrown error shows of itself: its message, its stack, and everything util.inspect prints (own properties, causes). */
  const shownBy = (error: unknown) => [String(error), (error as Error).stack ?? '', inspect(error, { depth: 5 })].join('\n');

  it.each([
    ['an absent value', undefined, /is empty/, []],
    ['a blank value', '  ', /is empty/, []],
    [
      'an entry without a colon',
      'no-colon-here-0123456789abcdefghijklmnop',
      /the keyring parameter \/revocable-jwt\/prod\/jwt-keys entry 1 must be kid:secret/,
      ['no-colon-here-0123456789abcdefghijklmnop'],
    ],
    ['a short secret', 'k1:short', /entry 1: the secret must be at least 32 bytes/, ['short']],
    [
      'a short secret after a good one',
      `2026-12:${CYRILLIC_SECRET},2026-11:ключ-🔑`,
      /entry 2: the secret must be at least 32 bytes/,
      [CYRILLIC_SECRET, 'ключ-🔑'],
    ],
    ['a repeated kid', `2026-12:${CJK_SECRET},2026-12:${LATIN_SECRET}`, /entry 2 repeats the kid of entry 1/, [CJK_SECRET, LATIN_SECRET]],
    [
      'the development secret after a good one',
      `2026-12:${ASCII_SECRET},2026-11:${DEVELOPMENT_SECRET}`,
      /entry 2: the secret is the public development secret/,
      [ASCII_SECRET, DEVELOPMENT_SECRET],
    ],
    ['a kid that is no kid', `Ωmega κλειδί:${LATIN_SECRET}`, /entry 1 must be kid:secret/, ['Ωmega κλειδί', LATIN_SECRET]],
    // A comma inside a secret ends the entry: what follows it up to a colon reads as a kid, and is a piece of the secret.
    [
      'a secret with a comma in it',
      `2026-12:${EMOJI_SECRET},4567:rest-of-the-secret`,
      /entry 2: the secret must be at least 32 bytes/,
      [EMOJI_SECRET, '4567', 'rest-of-the-secret'],
    ],
  ])('refuses %s with a ConfigError that shows no secret of the ring, whole or by its first or last 8 characters', async (_case, value, message, secrets) => {
    const failure = fetchKeyring(PARAMETER, 1000, reader(value));
    await expect(failure).rejects.toThrow(ConfigError);
    await expect(failure).rejects.toThrow(message);
    const shown = shownBy(await failure.catch((error: unknown) => error));
    for (const secret of secrets) {
      // The whole secret, and its first and last 8 characters: a cut-down echo still gives a secret away.
      const chars = [...secret];
      for (const piece of new Set([secret, chars.slice(0, 8).join(''), chars.slice(-8).join('')])) expect(shown).not.toContain(piece);
    }
  });

  it('accepts each of those secrets when the ring is well-formed, so the refusals above come from the broken entry alone', async () => {
    const secrets = [ASCII_SECRET, LATIN_SECRET, CYRILLIC_SECRET, CJK_SECRET, EMOJI_SECRET];
    const ring = secrets.map((secret, index) => `k${index}:${secret}`).join(',');
    await expect(fetchKeyring(PARAMETER, 1000, reader(ring))).resolves.toEqual(secrets.map((secret, index) => ({ kid: `k${index}`, secret })));
  });
});

describe('JWT_KEYS_SSM_PARAMETER', () => {
  const base = { REDIS_URL: 'redis://127.0.0.1:6379' };

  it('leaves the keys to be fetched at cold start', () => {
    const config = loadConfig({ ...base, JWT_KEYS_SSM_PARAMETER: PARAMETER });
    expect(config.keySource).toEqual({ from: 'ssm', parameterName: PARAMETER, alg: 'HS256' });
    expect(config.tokens.keys).toEqual([]);
  });

  it.each([{ JWT_SECRET: SECRET_A }, { JWT_KEYS: `k:${SECRET_A}` }])('may not be set together with %p', (other) => {
    expect(() => loadConfig({ ...base, JWT_KEYS_SSM_PARAMETER: PARAMETER, ...other })).toThrow(/not several/);
  });

  it('is not needed when the keys are in the environment', () => {
    expect(loadConfig({ ...base, JWT_SECRET: SECRET_A }).keySource).toEqual({ from: 'environment', alg: 'HS256' });
  });
});
