/** In-memory DurableObjectState + namespace for running CoordinatorDO where no Durable Object binding exists. */

type Alarmable = { alarm(): Promise<void> };

export function memoryState() {
  const data = new Map<string, unknown>();
  let alarmAt: number | null = null;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let target: Alarmable | undefined;
  let pending: Promise<unknown> = Promise.resolve();
  const clone = <T>(v: T): T => (v === undefined ? v : structuredClone(v));
  const storage = {
    async get<T>(key: string): Promise<T | undefined> {
      return clone(data.get(key) as T | undefined);
    },
    async put(key: string | Record<string, unknown>, value?: unknown) {
      if (typeof key === 'string') data.set(key, clone(value));
      else for (const [k, v] of Object.entries(key)) data.set(k, clone(v));
    },
    async delete(key: string | string[]) {
      for (const k of Array.isArray(key) ? key : [key]) data.delete(k);
      return true;
    },
    async list<T>(opts: { prefix?: string } = {}): Promise<Map<string, T>> {
      const out = new Map<string, T>();
      for (const k of [...data.keys()].sort()) if (!opts.prefix || k.startsWith(opts.prefix)) out.set(k, clone(data.get(k) as T));
      return out;
    },
    async getAlarm() {
      return alarmAt;
    },
    async setAlarm(at: number) {
      alarmAt = at;
      if (timer) clearTimeout(timer);
      // Like the runtime: one alarm per object, delivered once, re-armed by the object itself.
      timer = setTimeout(
        () => {
          alarmAt = null;
          void target?.alarm();
        },
        Math.max(0, at - Date.now()),
      );
    },
    async deleteAlarm() {
      alarmAt = null;
      if (timer) clearTimeout(timer);
    },
  };
  const ctx = {
    storage,
    id: { toString: () => 'memory' },
    blockConcurrencyWhile<T>(fn: () => Promise<T>) {
      const p = fn();
      pending = p;
      return p;
    },
    waitUntil() {},
  };
  return {
    ctx: ctx as unknown as DurableObjectState,
    data,
    /** Resolves once the constructor's blockConcurrencyWhile work is done. */
    ready: () => pending,
    attach(obj: Alarmable) {
      target = obj;
    },
    stop() {
      if (timer) clearTimeout(timer);
      target = undefined;
    },
  };
}

/** A namespace whose every id maps to the same in-process object (the coordinator is a singleton anyway). */
export function singletonNamespace<T extends object>(instance: T): DurableObjectNamespace {
  return {
    idFromName: () => ({ toString: () => 'global' }),
    get: () => instance,
  } as unknown as DurableObjectNamespace;
}
