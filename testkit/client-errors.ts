// What a call of the typed client (client/) threw, for tests that expect it to fail.
import { RevocableJwtError } from '../client/src/index';

export async function rejection(promise: Promise<unknown>): Promise<RevocableJwtError> {
  const error = await promise.then(
    () => undefined,
    (reason: unknown) => reason,
  );
  if (!(error instanceof RevocableJwtError)) throw new Error(`expected a RevocableJwtError, got ${String(error)}`);
  return error;
}
