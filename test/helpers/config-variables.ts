/** Every variable the services read: cleared before a cold start, so the developer's shell cannot leak into a test. */
export const CONFIG_VARIABLES = [
  'REDIS_URL',
  'REDIS_TIMEOUT_MS',
  'REDIS_WAIT_REPLICAS',
  'REDIS_CLUSTER',
  'REDIS_ALLOW_EVICTION',
  'JWT_SECRET',
  'JWT_KEYS',
  'JWT_KEYS_SSM_PARAMETER',
  'JWT_ISSUER',
  'JWT_AUDIENCE',
  'TOKEN_TTL',
  'MAX_TTL',
  'LOG_LEVEL',
  'CORS_ORIGINS',
  'IS_OFFLINE',
];
