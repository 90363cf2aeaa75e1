import { allowPolicy, authorizerContext, callerIdentity, stageWideResource } from '../../shared/auth/policy';

const methodArn = 'arn:aws:execute-api:eu-west-1:123456789012:abc123/dev/GET/me';
const token = { sub: 'user-1', jti: 'a'.repeat(22), sid: 's'.repeat(22), iat: 1_700_000_000, exp: 1_700_000_900, claims: { role: 'admin' } };

describe('Function: stageWideResource', () => {
  it('widens a method ARN to the whole stage', () => {
    expect(stageWideResource(methodArn)).toBe('arn:aws:execute-api:eu-west-1:123456789012:abc123/dev/*');
    expect(stageWideResource('arn:aws:execute-api:us-east-1:1:api/prod/POST/auth/logout')).toBe('arn:aws:execute-api:us-east-1:1:api/prod/*');
  });

  it('refuses anything that is not an execute-api ARN', () => {
    expect(() => stageWideResource('arn:aws:s3:::bucket/key')).toThrow(/not an execute-api ARN/);
    expect(() => stageWideResource('')).toThrow(/not an execute-api ARN/);
  });
});

describe('Function: allowPolicy', () => {
  it('allows the stage for the subject and passes the identity on as flat context', () => {
    expect(allowPolicy(token, methodArn)).toEqual({
      principalId: 'user-1',
      policyDocument: {
        Version: '2012-10-17',
        Statement: [{ Action: 'execute-api:Invoke', Effect: 'Allow', Resource: 'arn:aws:execute-api:eu-west-1:123456789012:abc123/dev/*' }],
      },
      context: { sub: 'user-1', jti: token.jti, sid: token.sid, iat: token.iat, exp: token.exp, customClaims: '{"role":"admin"}' },
    });
  });
});

describe('Function: authorizerContext', () => {
  it('is the flat context both authorizers pass on, the one in the REST policy too', () => {
    const context = authorizerContext(token);
    expect(context).toEqual({ sub: 'user-1', jti: token.jti, sid: token.sid, iat: token.iat, exp: token.exp, customClaims: '{"role":"admin"}' });
    expect(allowPolicy(token, methodArn).context).toEqual(context);
    for (const value of Object.values(context)) expect(['string', 'number']).toContain(typeof value);
  });
});

describe('Function: callerIdentity', () => {
  const event = (authorizer: unknown) => ({ requestContext: { authorizer } }) as never;

  it('reads the context back, whether values arrive as strings (AWS) or numbers (offline)', () => {
    const expected = { sub: 'user-1', jti: token.jti, sid: token.sid, iat: token.iat, exp: token.exp, claims: { role: 'admin' } };
    expect(callerIdentity(event(allowPolicy(token, methodArn).context))).toEqual(expected);
    expect(
      callerIdentity(
        event({
          principalId: 'user-1',
          sub: 'user-1',
          jti: token.jti,
          sid: token.sid,
          iat: String(token.iat),
          exp: String(token.exp),
          customClaims: '{"role":"admin"}',
        }),
      ),
    ).toEqual(expected);
  });

  // Tokens signed before sessions existed have no sid: the context carries '' and the identity none.
  it('reads a context without a session as an identity without a sid', () => {
    const { sid: _sid, ...sessionless } = token;
    expect(authorizerContext(sessionless).sid).toBe('');
    expect(callerIdentity(event(authorizerContext(sessionless)))).toEqual({
      sub: 'user-1',
      jti: token.jti,
      iat: token.iat,
      exp: token.exp,
      claims: { role: 'admin' },
    });
  });

  it.each([
    undefined,
    null,
    {},
    { sub: 'u', jti: 'j', iat: '1', exp: 'soon', customClaims: '{}' },
    { sub: 'u', jti: 'j', iat: 1, exp: 2, customClaims: '[1]' },
    { sub: 'u', jti: 'j', iat: 1, exp: 2, customClaims: '{' },
  ])('returns undefined for %p', (authorizer) => {
    expect(callerIdentity(event(authorizer))).toBeUndefined();
  });

  describe('payload 2.0 (HTTP API): the context is at requestContext.authorizer.lambda', () => {
    const v2 = (authorizer: unknown) => ({ version: '2.0', requestContext: { authorizer } }) as never;
    const expected = { sub: 'user-1', jti: token.jti, sid: token.sid, iat: token.iat, exp: token.exp, claims: { role: 'admin' } };

    it('reads the context back, numbers or strings', () => {
      expect(callerIdentity(v2({ lambda: authorizerContext(token) }))).toEqual(expected);
      expect(
        callerIdentity(
          v2({ lambda: { sub: 'user-1', jti: token.jti, sid: token.sid, iat: String(token.iat), exp: String(token.exp), customClaims: '{"role":"admin"}' } }),
        ),
      ).toEqual(expected);
    });

    // serverless offline puts the decoded bearer JWT beside it, under jwt: it must not be mistaken for the context.
    it('ignores what sits beside lambda', () => {
      const decoded = { sub: 'mallory', jti: 'x', iat: 1, exp: 2 };
      expect(callerIdentity(v2({ lambda: authorizerContext(token), jwt: { claims: decoded, scopes: undefined } }))).toEqual(expected);
    });

    it.each([undefined, null, {}, { lambda: null }, { lambda: {} }, { lambda: 'x' }, { jwt: { claims: { sub: 'u', jti: 'j', iat: 1, exp: 2 } } }])(
      'returns undefined for authorizer %p',
      (authorizer) => {
        expect(callerIdentity(v2(authorizer))).toBeUndefined();
      },
    );

    it('does not read a 1.0 context out of a 2.0 event, nor a 2.0 one out of a 1.0 event', () => {
      expect(callerIdentity(v2(authorizerContext(token)))).toBeUndefined();
      expect(callerIdentity(event({ lambda: authorizerContext(token) }))).toBeUndefined();
    });
  });
});
