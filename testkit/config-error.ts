// The ConfigError that loading a configuration throws, for tests that inspect its message and cause.
import { loadConfig } from '../shared/config';
import { ConfigError } from '../shared/errors';

export function configError(env: Record<string, string>): ConfigError {
  try {
    loadConfig(env);
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  throw new Error('expected a ConfigError');
}
