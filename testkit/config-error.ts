// The ConfigError that loading a configuration throws, for tests that inspect its message and cause.
import { loadConfig, type KeyRole } from '../shared/config';
import { ConfigError } from '../shared/errors';

export function configError(env: Record<string, string>, role?: KeyRole): ConfigError {
  try {
    loadConfig(env, role);
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  throw new Error('expected a ConfigError');
}
