export interface BrowserRoute {
  method: 'GET' | 'POST' | 'DELETE';
  /** As the HTTP API serves it, e.g. /auth/sessions/{sid}; the REST API under /<stage>. */
  path: string;
}

export const BROWSER_ROUTES: readonly BrowserRoute[];
export const ALLOWED_HEADERS: readonly string[];
/** CORS_ORIGINS, validated by shared/config.ts's loadCorsOrigins. */
export function parseOrigins(raw: string | undefined): string[];
