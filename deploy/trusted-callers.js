// @ts-check
// Who may call the trusted routes (POST /auth/token, /auth/revoke and /auth/introspect), resolved by serverless.yml at
// package time from three parameters (`--param name=value`):
//
//   trustedCallers   apiKey (default): an `x-api-key` with a usage plan that throttles it.
//                    iam (aws target only): SigV4-signed requests (`aws_iam`) from principals allowed to
//                    execute-api:Invoke them (the RestApiExecutionArn output is the prefix for that policy).
//                    serverless offline cannot check SigV4, so the local target keeps the API key.
//   usagePlanRate    requests per second across every caller of the key, sign-ins included (default 20)
//   usagePlanBurst   requests allowed at once above that rate (default 50)
//   usagePlanQuota   optional cap per period, e.g. 100000/DAY (DAY, WEEK or MONTH); unset: none
//
// Each export is read as `${file(./deploy/trusted-callers.js):name}`; a wrong value fails the packaging with
// a message that names the parameter.

const TRUSTED_ROUTES = /** @type {const} */ ({
  sign: { path: 'auth/token', method: 'post' },
  revoke: { path: 'auth/revoke', method: 'post' },
  introspect: { path: 'auth/introspect', method: 'post' },
});
const QUOTA = /^(\d+)\/(DAY|WEEK|MONTH)$/;

/**
 * @typedef {{ resolveVariable: (variable: string) => Promise<unknown> }} Resolver
 * @typedef {'apiKey' | 'iam'} Mode
 */

/** @param {Resolver} resolver @returns {Promise<Mode>} */
async function mode({ resolveVariable }) {
  const [target, chosen] = await Promise.all([resolveVariable('param:target'), resolveVariable('param:trustedCallers')]);
  if (chosen !== 'apiKey' && chosen !== 'iam') {
    throw new Error(`--param trustedCallers must be apiKey or iam, got "${String(chosen)}"`);
  }
  if (chosen === 'iam' && target !== 'aws') {
    throw new Error('--param trustedCallers=iam needs the aws target: serverless offline cannot check SigV4 signatures');
  }
  return chosen;
}

/** @param {keyof typeof TRUSTED_ROUTES} name */
function events(name) {
  /** @param {Resolver} resolver */
  return async (resolver) => {
    const route = TRUSTED_ROUTES[name];
    const guard = (await mode(resolver)) === 'iam' ? { authorizer: 'aws_iam' } : { private: true };
    return [{ http: { ...route, ...guard } }];
  };
}

/** @param {string} name @param {unknown} raw @param {number} min */
function integer(name, raw, min) {
  const text = String(raw).trim();
  const value = Number(text);
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(value) || value < min) {
    throw new Error(`--param ${name} must be a whole number of at least ${min}, got "${String(raw)}"`);
  }
  return value;
}

/** The API key entry, or none when IAM guards the routes. @param {Resolver} resolver */
async function apiKeys(resolver) {
  if ((await mode(resolver)) === 'iam') return null;
  const { resolveVariable } = resolver;
  const [service, stage, value] = await Promise.all([
    resolveVariable('self:service'),
    resolveVariable('sls:stage'),
    // Null leaves the key without a value: AWS generates one.
    resolveVariable('self:custom.target.signApiKey, null'),
  ]);
  return [{ name: `${service}-${stage}-sign`, value: value ?? null }];
}

/** The usage plan that throttles the API key; none with IAM (usage plans meter API keys only). @param {Resolver} resolver */
async function usagePlan(resolver) {
  if ((await mode(resolver)) === 'iam') return null;
  const { resolveVariable } = resolver;
  const [rate, burst, quota] = await Promise.all([
    resolveVariable('param:usagePlanRate'),
    resolveVariable('param:usagePlanBurst'),
    resolveVariable("param:usagePlanQuota, ''"),
  ]);
  /** @type {{ throttle: { rateLimit: number, burstLimit: number }, quota?: { limit: number, period: string } }} */
  const plan = {
    throttle: { rateLimit: integer('usagePlanRate', rate, 1), burstLimit: integer('usagePlanBurst', burst, 1) },
  };
  const quotaText = String(quota ?? '').trim();
  if (quotaText !== '') {
    const match = QUOTA.exec(quotaText);
    if (match === null) throw new Error(`--param usagePlanQuota must look like 100000/DAY (DAY, WEEK or MONTH), got "${quotaText}"`);
    plan.quota = { limit: integer('usagePlanQuota', match[1], 1), period: String(match[2]) };
  }
  return plan;
}

module.exports = {
  signEvents: events('sign'),
  revokeEvents: events('revoke'),
  introspectEvents: events('introspect'),
  apiKeys,
  usagePlan,
  /** @param {Resolver} resolver */
  mode: async (resolver) => mode(resolver),
};
