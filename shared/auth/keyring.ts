// Fetches the signing keyring from SSM Parameter Store at cold start, so that no secret is written into the
// deployment template. The AWS SDK ships with the Lambda Node.js runtime: it is loaded only on this path and
// never bundled.
import { parseKeyring, type SigningKeyConfig } from '../config';
import { ConfigError, KeyringUnavailableError } from '../errors';

/** Reads one decrypted parameter's value; undefined if it has none. */
export type ParameterReader = (name: string, signal: AbortSignal) => Promise<string | undefined>;

export async function fetchKeyring(parameterName: string, timeoutMs: number, read: ParameterReader = readSsmParameter): Promise<SigningKeyConfig[]> {
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
  return parseKeyring(value.trim(), `the keyring parameter ${parameterName}`, false);
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
