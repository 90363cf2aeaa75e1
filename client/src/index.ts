// @revocable-jwt/client: AuthBackend for trusted backends, AuthSession for apps. Needs only the platform's fetch.
export { AuthBackend, type AuthBackendOptions, type RequestSigner, type SignResponseWithRefresh, type SigningRequest } from './backend';
export { RevocableJwtError, type ClientErrorCode } from './errors';
export type { FetchLike } from './http';
export { AuthSession, type AuthSessionOptions, type SessionEndedEvent, type SessionEndedListener, type SessionTokens } from './session';
export { memoryStorage, webStorage, type StoredTokens, type TokenStorage, type WebStorageLike } from './storage';
export type * from './wire';
