/**
 * Route security (SecurityPolicy): the types the gateway's security stage uses. Implementations live in src/security/:
 * compileSecurityPolicies, applyToUpstream and decorateResponse in policy.ts, createJwksRegistry in jwks.ts.
 */
export type {
  CompiledSecurityPolicy,
  Identity,
  SecurityContext,
  SecurityDecision,
  SecurityDeps,
  SecurityIndex,
  SecurityOutcome,
  SecurityRequest,
} from './security/policy.js';
export type { JwksRegistry, JwksRegistryOptions } from './security/jwks.js';
export type { SecurityRefusal } from './security/refusal.js';
