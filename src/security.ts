/** Route security (SecurityPolicy): the interface the gateway's security stage uses; implementations in src/security/. */
export {
  applyToUpstream,
  compileSecurityPolicies,
  compileSecurityPolicy,
  decorateResponse,
  principalOf,
  type CompiledSecurityPolicy,
  type Identity,
  type SecurityContext,
  type SecurityDecision,
  type SecurityDeps,
  type SecurityIndex,
  type SecurityOutcome,
  type SecurityRequest,
} from './security/policy.js';
export { createJwksRegistry, type JwksRegistry, type JwksRegistryOptions } from './security/jwks.js';
export { hashApiKey } from './security/apikey.js';
export { SECURITY_REFUSALS, type SecurityRefusal } from './security/refusal.js';
