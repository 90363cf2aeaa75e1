// The keyring read from SSM Parameter Store by the real AWS SDK client (JWT_KEYS_SSM_PARAMETER), as in AWS,
// against a local stand-in of GetParameter: containers (child processes, so the SDK reads exactly their
// environment) cold-start, sign and authorize with the keys it holds, and fail closed when it refuses.
import { randomBytes } from 'node:crypto';
import { expect } from '@jest/globals';
import type { APIGatewayProxyResult } from 'aws-lambda';
import jsonwebtoken from 'jsonwebtoken';
import { newId } from '../../shared/sessions/keys';
import { proxyEvent, tokenAuthorizerEvent } from '../../testkit/events';
import type { InvocationResult } from '../../testkit/handler-host';
import { bundleHandlerHost, startHost, type HostBundle, type HostProcess } from '../../testkit/host-process';
import { startRedisServer, type RedisServer } from '../../testkit/redis-server';
import { startSsmStandIn, type SsmStandIn } from '../../testkit/ssm-stand-in';

const PARAMETER = '/revocable-jwt/test/jwt-keys';
const REGION = 'eu-west-3';
// Distinctive, so that a log line or answer echoing one would be caught.
const CURRENT = { kid: '2026-12', secret: `ssm-current-${randomBytes(16).toString('hex')}` };
const PREVIOUS = { kid: '2026-11', secret: `ssm-previous-${randomBytes(16).toString('hex')}` };
const KEYRING = `${CURRENT.kid}:${CURRENT.secret},${PREVIOUS.kid}:${PREVIOUS.secret}`;
const ACCESS_KEY = 'AKIAIOSFODNN7EXAMPLE';
const SECRET_KEY = `fake-aws-secret-${randomBytes(8).toString('hex')}`;
const DENIED = {
  status: 400,
  type: 'AccessDeniedException',
  message: `User: arn:aws:sts::123456789012:assumed-role/x is not authorized to perform: ssm:GetParameter on resource: ${PARAMETER}`,
};

type ProxyOutcome = InvocationResult & { ok: true; result: APIGatewayProxyResult };

describe('Keyring from SSM (JWT_KEYS_SSM_PARAMETER), read by the real AWS SDK client', () => {
  let redis: RedisServer;
  let ssm: SsmStandIn;
  let bundle: HostBundle;
  const hosts: HostProcess[] = [];

  beforeAll(async () => {
    redis = await startRedisServer();
    ssm = await startSsmStandIn({ value: KEYRING });
    bundle = bundleHandlerHost();
  });

  beforeEach(async () => {
    ssm.requests.length = 0;
    await (await redis.admin()).flushAll();
  });

  afterEach(() => {
    for (const host of hosts.splice(0)) host.stop();
  });

  afterAll(async () => {
    await ssm?.close();
    await redis?.stop();
    bundle?.cleanup();
  });

  /** A container as in AWS, but its SSM endpoint is the stand-in: nothing else points the SDK anywhere. */
  async function coldStart(): Promise<HostProcess> {
    const host = await startHost(bundle, {
      REDIS_URL: redis.url,
      JWT_KEYS_SSM_PARAMETER: PARAMETER,
      LOG_LEVEL: 'info',
      AWS_REGION: REGION,
      AWS_ACCESS_KEY_ID: ACCESS_KEY,
      AWS_SECRET_ACCESS_KEY: SECRET_KEY,
      AWS_ENDPOINT_URL_SSM: ssm.url,
      // No shared config or credentials file from the machine running the tests, no instance metadata.
      AWS_CONFIG_FILE: '/nonexistent/aws-config',
      AWS_SHARED_CREDENTIALS_FILE: '/nonexistent/aws-credentials',
      AWS_EC2_METADATA_DISABLED: 'true',
    });
    hosts.push(host);
    return host;
  }

  const signEvent = () => proxyEvent({ method: 'POST', path: '/auth/token', body: JSON.stringify({ sub: 'ssm-user' }) });

  it('asks GetParameter for the decrypted parameter once, signs with its newest key and verifies with its ring', async () => {
    const host = await coldStart();

    const signed = (await host.invoke('sign', signEvent())) as ProxyOutcome;
    expect(signed.result.statusCode).toBe(201);
    const { token } = JSON.parse(signed.result.body) as { token: string };
    // Signed with the parameter's first key, under its kid.
    expect(jsonwebtoken.verify(token, CURRENT.secret, { complete: true })).toMatchObject({
      header: { alg: 'HS256', kid: CURRENT.kid },
      payload: { sub: 'ssm-user' },
    });
    expect(await host.invoke('authorizer', tokenAuthorizerEvent(`Bearer ${token}`))).toMatchObject({ ok: true, result: { principalId: 'ssm-user' } });
    // The previous key verifies too (the whole ring was read): its token is refused only for want of a label.
    const previous = jsonwebtoken.sign({ jti: newId('ssm-user') }, PREVIOUS.secret, {
      algorithm: 'HS256',
      keyid: PREVIOUS.kid,
      subject: 'ssm-user',
      issuer: 'revocable-jwt',
      audience: 'revocable-jwt-api',
      expiresIn: 600,
    });
    expect(await host.invoke('authorizer', tokenAuthorizerEvent(`Bearer ${previous}`))).toMatchObject({ ok: false, error: { message: 'Unauthorized' } });
    await host.flush();
    expect(
      host
        .logEntries()
        .filter((entry) => entry.message === 'authorize')
        .map((entry) => entry.reason ?? entry.outcome),
    ).toEqual(['allow', 'TOKEN_REVOKED']);

    // One request, during init: SSM's JSON protocol, SigV4-signed for ssm in the region, the secure value asked for.
    expect(ssm.requests).toHaveLength(1);
    const [request] = ssm.requests;
    expect(request).toMatchObject({
      method: 'POST',
      path: '/',
      headers: {
        'x-amz-target': 'AmazonSSM.GetParameter',
        'content-type': 'application/x-amz-json-1.1',
        authorization: expect.stringMatching(new RegExp(`^AWS4-HMAC-SHA256 Credential=${ACCESS_KEY}/\\d{8}/${REGION}/ssm/aws4_request, `)),
      },
      body: { Name: PARAMETER, WithDecryption: true },
    });
    const output = host.lines().join('\n');
    for (const secret of [CURRENT.secret, PREVIOUS.secret, SECRET_KEY]) expect(output).not.toContain(secret);
  });

  it('refused by SSM (AccessDenied): sign answers 503 with Retry-After and stores nothing, the authorizer errs (API Gateway 500, not 401); both recover once SSM answers', async () => {
    ssm.answer(DENIED);
    try {
      const host = await coldStart();

      const signed = (await host.invoke('sign', signEvent())) as ProxyOutcome;
      expect(signed.result).toMatchObject({ statusCode: 503, headers: { 'Retry-After': '1' } });
      expect(JSON.parse(signed.result.body)).toEqual({ error: 'KEYRING_UNAVAILABLE', message: 'signing keys unavailable, try again' });
      expect(await (await redis.admin()).dbSize()).toBe(0);
      const token = jsonwebtoken.sign({ jti: 'x' }, CURRENT.secret, { algorithm: 'HS256', keyid: CURRENT.kid });
      const decision = await host.invoke('authorizer', tokenAuthorizerEvent(`Bearer ${token}`));
      expect(decision).toMatchObject({ ok: false, error: { name: 'KeyringUnavailableError', message: expect.stringContaining('AccessDeniedException') } });

      await host.flush();
      const entries = host.logEntries();
      expect(entries.filter((entry) => entry.level === 'error').map((entry) => [entry.message, entry.reason])).toEqual([
        [
          'sign',
          expect.stringMatching(
            /^KeyringUnavailableError\(KEYRING_UNAVAILABLE\): cannot read the keyring parameter \/revocable-jwt\/test\/jwt-keys: AccessDeniedException/,
          ),
        ],
        ['authorize', 'KEYRING_UNAVAILABLE'],
      ]);
      // The failure is not cached: each invocation asked SSM again (init's request, then one each).
      expect(ssm.requests.length).toBeGreaterThanOrEqual(2);

      ssm.answer({ value: KEYRING });
      expect(((await host.invoke('sign', signEvent())) as ProxyOutcome).result.statusCode).toBe(201);
      expect(host.lines().join('\n')).not.toContain(SECRET_KEY);
    } finally {
      ssm.answer({ value: KEYRING });
    }
  });
});
