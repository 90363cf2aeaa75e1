// Fetches the signing keyring from SSM Parameter Store at cold start, so that no secret is written into the
// deployment template. The AWS SDK ships with the Lambda Node.js runtime: it is loaded only on this path and
// never bundled.
import { asymmetricKeyring, parseAsymmetricKeyring, parseKeyring, type AsymmetricKeyring, type SigningKeyConfig } from '../config';
import type { Algorithm } from './algorithms';
import { ConfigError, KeyringUnavailableError } from '../errors';

/** Reads one decrypted parameter's value; undefined if it has none. */
export type ParameterReader = (name: string, signal: AbortSignal) => Promise<string | undefined>;

/** The parameter holds an HS256 ring (`kid:secret,…`) or, with `alg` ES256 or EdDSA, private keys as JWT_KEYS does. */
export async function fetchKeyring(
  parameterName: string,
  timeoutMs: number,
  read: ParameterReader = readSsmParameter,
  alg: Algorithm = 'HS256',
): Promise<SigningKeyConfig[] | AsymmetricKeyring> {
  let value: string | undefined;
  try {
    value = await read(parameterName, AbortSignal.timeout(timeoutMs));
  } catch (cause) {
    // The SDK's message names the parameter and the failure (access denied, not found, timeout), never the value.
    const reason = cause instanceof Error ? `${cause.name}: ${cause.message}` : String(cause);
    throw new KeyringUnavailableError(`cannot read the keyring parameter ${parameterName}: ${reason}`, { cause });
  }
  if (value === undefined || value.trim() === '') {
    throw new ConfigError(`the keyring parameter ${parameterName} is empty`);
  }
  const source = `the keyring parameter ${parameterName}`;
  if (alg === 'HS256') return parseKeyring(value.trim(), source, false);
  return asymmetricKeyring(parseAsymmetricKeyring(value.trim(), source, 'private', alg), alg);
}

async function readSsmParameter(name: string, signal: AbortSignal): Promise<string | undefined> {
  const { SSMClient, GetParameterCommand } = await import('@aws-sdk/client-ssm');
  const client = new SSMClient({});
  try {
    const output = await client.send(new GetParameterCommand({ Name: name, WithDecryption: true }), { abortSignal: signal });
    return output.Parameter?.Value;
  } finally {
    client.destroy();
  }
}
