/**
 * wrangler environments as Edgeway uses them: production is wrangler.toml's top level, every `[env.<name>]` another
 * environment (staging). Read with wrangler's own config reader, so inheritance follows wrangler's rules: [vars],
 * kv_namespaces and durable_objects are not inherited and must be re-declared in every environment.
 */

/** What `edgeway build`/`dev` and the README call the top level of wrangler.toml (no `--env`). */
export const PRODUCTION = 'production';

/** The KV namespace every environment needs (the routing table). */
export const REQUIRED_KV = ['ROUTES'] as const;
/** The Durable Object bindings every environment needs, with the class each must name (src/index.ts exports them). */
export const REQUIRED_DURABLE_OBJECTS: Readonly<Record<string, string>> = {
  RATE_LIMITER: 'RateLimiterDO',
  COORDINATOR: 'CoordinatorDO',
  HEALTH: 'HealthCheckerDO',
};

/** `--env` values: what wrangler accepts as a table name and what is safe as a directory name (kv-seed/<env>/). */
const ENV_NAME = /^[A-Za-z0-9][A-Za-z0-9_-]*$/;

export interface Environment {
  /** "production" for the top level, else the `[env.<name>]` name. */
  name: string;
  /** The `--env` value wrangler takes; undefined for production. */
  env: string | undefined;
  /** The deployed Worker's name ("edgeway", "edgeway-staging"). */
  workerName: string | undefined;
  vars: Record<string, unknown>;
  kvNamespaces: { binding: string; id?: string }[];
  durableObjects: { name: string; class_name: string; script_name?: string }[];
}

type Wrangler = typeof import('wrangler');

async function readConfig(configPath: string, env: string | undefined) {
  const { unstable_readConfig } = (await import('wrangler')) as Wrangler;
  return unstable_readConfig({ config: configPath, env }, { hideWarnings: true });
}

/** The `[env.<name>]` names wrangler.toml defines (production, the top level, is not among them). */
export async function definedEnvironments(configPath = 'wrangler.toml'): Promise<string[]> {
  return [...((await readConfig(configPath, undefined)).definedEnvironments ?? [])];
}

/** One environment as wrangler resolves it for `--env <env>` (undefined: production). */
export async function readEnvironment(configPath: string, env: string | undefined): Promise<Environment> {
  const c = await readConfig(configPath, env);
  return {
    name: env ?? PRODUCTION,
    env,
    workerName: c.name,
    vars: { ...(c.vars ?? {}) },
    kvNamespaces: (c.kv_namespaces ?? []).map((k: { binding: string; id?: string }) => ({
      binding: k.binding,
      ...(k.id ? { id: k.id } : {}),
    })),
    durableObjects: (c.durable_objects?.bindings ?? []).map((b: Environment['durableObjects'][number]) => ({ ...b })),
  };
}

/** Production first, then every `[env.<name>]` in file order. */
export async function readEnvironments(configPath = 'wrangler.toml'): Promise<Environment[]> {
  const names = await definedEnvironments(configPath);
  return Promise.all([undefined, ...names].map((env) => readEnvironment(configPath, env)));
}

/**
 * What is wrong with the environments, one line each: a binding an environment does not (re-)declare, a Durable
 * Object bound to another class or Worker, a KV namespace id or EDGEWAY_AUDIENCE shared by two environments (unset
 * counts as a value: at most one environment may leave the audience to the request host). Empty when all is well.
 */
export function environmentProblems(envs: readonly Environment[]): string[] {
  const problems: string[] = [];
  const where = (e: Environment) => (e.env ? `[env.${e.env}]` : 'production (top level)');
  for (const e of envs) {
    for (const binding of REQUIRED_KV)
      if (!e.kvNamespaces.some((k) => k.binding === binding))
        problems.push(`${where(e)}: no kv_namespaces binding ${binding} (kv_namespaces are not inherited: re-declare it)`);
    for (const [name, className] of Object.entries(REQUIRED_DURABLE_OBJECTS)) {
      const b = e.durableObjects.find((d) => d.name === name);
      if (!b) problems.push(`${where(e)}: no durable_objects binding ${name} (durable_objects are not inherited: re-declare it)`);
      else if (b.class_name !== className) problems.push(`${where(e)}: ${name} binds class ${b.class_name}, expected ${className}`);
      else if (b.script_name)
        problems.push(`${where(e)}: ${name} names script_name ${b.script_name}: each environment runs its own objects`);
    }
  }
  const shared = (label: string, value: (e: Environment) => string | undefined) => {
    const seen = new Map<string, Environment>();
    for (const e of envs) {
      const v = value(e);
      if (v === undefined) continue;
      const first = seen.get(v);
      if (first) problems.push(`${where(e)}: same ${label} as ${where(first)}`);
      else seen.set(v, e);
    }
  };
  shared('ROUTES KV namespace id', (e) => e.kvNamespaces.find((k) => k.binding === 'ROUTES')?.id);
  shared('EDGEWAY_AUDIENCE (unset counts as one value)', (e) => {
    const a = e.vars.EDGEWAY_AUDIENCE;
    return typeof a === 'string' && a !== '' ? `=${a}` : '(unset)';
  });
  return problems;
}

/**
 * Checks an `--env` value against wrangler.toml: undefined and "production" mean the top level. Returns the wrangler
 * `--env` value (undefined for production) or throws with what wrangler.toml defines.
 */
export async function resolveEnvironmentFlag(flag: string | undefined, configPath = 'wrangler.toml'): Promise<string | undefined> {
  if (flag === undefined) return undefined;
  if (!ENV_NAME.test(flag)) throw new Error(`--env ${JSON.stringify(flag)}: not an environment name (letters, digits, "-", "_")`);
  const names = await definedEnvironments(configPath);
  if (flag === PRODUCTION && !names.includes(flag)) return undefined;
  if (!names.includes(flag)) {
    const known = [PRODUCTION, ...names].join(', ');
    throw new Error(`--env ${flag}: ${configPath} has no [env.${flag}] (environments: ${known})`);
  }
  return flag;
}
