/** Every answer the security stage gives instead of the upstream's: one list, one status each, bodies as src/proxy/errors.ts. */
import { jsonErrorResponse } from '../proxy/errors.js';

export const SECURITY_REFUSALS = {
  credentials_missing: { status: 401, message: 'authentication is required' },
  token_invalid: { status: 401, message: 'the access token is invalid' },
  token_expired: { status: 401, message: 'the access token has expired' },
  api_key_invalid: { status: 401, message: 'the API key is not valid' },
  ip_denied: { status: 403, message: 'requests from this address are not allowed' },
  forbidden: { status: 403, message: 'not allowed' },
  auth_unavailable: { status: 503, message: "the identity provider's keys could not be loaded" },
} as const satisfies Record<string, { status: number; message: string }>;

export type SecurityRefusal = keyof typeof SECURITY_REFUSALS;

/**
 * JSON error body: the code, a fixed message and the requestId. Never the credential, never which check failed beyond
 * the code (the request's log line has the reason).
 */
export function refusalResponse(code: SecurityRefusal, requestId: string, headers: [string, string][] = []): Response {
  const { status, message } = SECURITY_REFUSALS[code];
  return jsonErrorResponse(status, { error: code, message, requestId }, headers, '5');
}
