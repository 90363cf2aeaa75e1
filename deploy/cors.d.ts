export interface BearerRoute {
  method: 'GET' | 'POST' | 'DELETE';
  /** As the HTTP API serves it, e.g. /auth/sessions/{jti}; the REST API under /<stage>. */
  path: string;
}

export const BEARER_ROUTES: readonly BearerRoute[];
export const ALLOWED_HEADERS: readonly string[];
/** CORS_ORIGINS, validated by shared/config.ts's loadCorsOrigins. */
export function parseOrigins(raw: string | undefined): string[];
