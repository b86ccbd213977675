/** Parses Backend test fixtures through the real schema so defaults (priority, weight) apply. */
import { z } from 'zod';
import { Backend as BackendSchema } from '../../../src/schema/backend.js';

export type BackendInput = Omit<z.input<typeof BackendSchema>, 'apiVersion' | 'kind'>;
export const Backend = (b: BackendInput) => BackendSchema.parse({ apiVersion: 'edgeway.dev/v1alpha1', kind: 'Backend', ...b });
