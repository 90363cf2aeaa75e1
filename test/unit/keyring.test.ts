import { ConfigError, KeyringUnavailableError } from '../../shared/errors';
import { fetchKeyring, type ParameterReader } from '../../shared/auth/keyring';
import { loadConfig } from '../../shared/config';

const SECRET_A = 'ssm-secret-a-0123456789abcdefghijklmn';
const SECRET_B = 'ssm-secret-b-0123456789abcdefghijklmn';
const PARAMETER = '/revocable-jwt/prod/jwt-keys';

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
        given.addEventListener('abort', () => reject(given.reason));
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

  it.each([
    [undefined, /is empty/],
    ['  ', /is empty/],
    ['no-colon-here-0123456789abcdefghijklmnop', /the keyring parameter \/revocable-jwt\/prod\/jwt-keys entry 1 must be kid:secret/],
    ['k1:short', /entry 1: the secret must be at least 32 bytes/],
  ])('refuses the value %p with a ConfigError that never repeats a secret', async (value, message) => {
    const failure = fetchKeyring(PARAMETER, 1000, reader(value));
    await expect(failure).rejects.toThrow(ConfigError);
    await expect(failure).rejects.toThrow(message);
    await failure.catch((error: Error) => expect(error.message).not.toContain('short'));
  });
});

describe('JWT_KEYS_SSM_PARAMETER', () => {
  const base = { REDIS_URL: 'redis://127.0.0.1:6379' };

  it('leaves the keys to be fetched at cold start', () => {
    const config = loadConfig({ ...base, JWT_KEYS_SSM_PARAMETER: PARAMETER });
    expect(config.keySource).toEqual({ from: 'ssm', parameterName: PARAMETER });
    expect(config.tokens.keys).toEqual([]);
  });

  it.each([{ JWT_SECRET: SECRET_A }, { JWT_KEYS: `k:${SECRET_A}` }])('may not be set together with %p', (other) => {
    expect(() => loadConfig({ ...base, JWT_KEYS_SSM_PARAMETER: PARAMETER, ...other })).toThrow(/not several/);
  });

  it('is not needed when the keys are in the environment', () => {
    expect(loadConfig({ ...base, JWT_SECRET: SECRET_A }).keySource).toEqual({ from: 'environment' });
  });
});
