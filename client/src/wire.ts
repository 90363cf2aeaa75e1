// The request and response bodies of the service's routes: the schemas of docs/openapi.yaml, through the types
// generated from it (openapi.d.ts, `npm run client:openapi`). Times are seconds since the epoch, lifetimes seconds.
import type { components } from './openapi';

type Schemas = components['schemas'];

/** Every error a function answers: `{ error, message }` (API Gateway's own answers may be `{ message }` only). */
export type ErrorResponse = Schemas['Error'];

/** What the trusted backend says about the login; shown in listings, never used to decide. */
export type SessionMetadata = Omit<Schemas['SessionMetadata'], 'ip'> & {
  /** An IPv4 or IPv6 address (the document's `anyOf` of formats generates as `unknown`). */
  ip?: string;
};

/** POST /auth/token, trusted backends only. */
export type SignRequest = Omit<Schemas['SignRequest'], 'session'> & { session?: SessionMetadata };
/** POST /auth/token's 201; `refreshToken` and `refreshExpiresIn` with `refresh: true` only. */
export type SignResponse = Schemas['SignResponse'];

/** POST /auth/refresh, on either API: the refresh token is the credential. */
export type RefreshRequest = Schemas['RefreshRequest'];
/** POST /auth/refresh's 200: a new access token and a new refresh token for the same session. */
export type RefreshResponse = Schemas['RefreshResponse'];

/** POST /auth/revoke: exactly one of `sub`, `sid`, `jti`. */
export type RevokeRequest = Schemas['RevokeRequest'];
export type RevokeResponse = Schemas['RevokeResponse'];

/** POST /auth/introspect (RFC 7662), as JSON. */
export type IntrospectRequest = Schemas['IntrospectRequest'];
/** `{ active: true, … }` for a live access token, `{ active: false }` for anything else. */
export type IntrospectResponse = Schemas['IntrospectResponse'];

/** GET /me's 200: the caller as the authorizer established it. */
export type MeResponse = Schemas['Me'];

/** POST /auth/logout's optional body. */
export type LogoutRequest = Schemas['LogoutRequest'];
/** `local` (the default) this session, `others` the caller's other sessions, `global` all of them. */
export type LogoutScope = NonNullable<LogoutRequest['scope']>;

/** One entry of GET /auth/sessions. */
export type SessionInfo = Schemas['Session'];
/** GET /auth/sessions's 200, newest first. */
export type SessionsResponse = Schemas['SessionList'];
