/** Supervised informers: restart on error with jittered backoff, restart when stalled, report sync state. */
import {
  makeInformer,
  type Informer,
  type KubeConfig,
  type KubernetesListObject,
  type KubernetesObject,
  type ObjectCache,
} from '@kubernetes/client-node';
import { backoffDelay } from './backoff.js';

export interface WatchOptions {
  backoffBaseMs: number;
  backoffMaxMs: number;
  stallMs: number;
  rand?: () => number;
  onChange: (resource: string) => void;
  onRestart: (resource: string, cause: 'error' | 'stall') => void;
  log: (line: Record<string, unknown>) => void;
}

export class SupervisedInformer<T extends KubernetesObject> {
  private informer: Informer<T> & ObjectCache<T>;
  private attempt = 0;
  private restartTimer: ReturnType<typeof setTimeout> | undefined;
  private stopped = false;
  private erroredSinceStart = false;
  /** True once a list succeeded: the cache reflects the cluster (possibly somewhat old). */
  synced = false;
  lastActivity = Date.now();

  constructor(
    readonly resource: string,
    kc: KubeConfig,
    path: string,
    list: () => Promise<KubernetesListObject<T>>,
    private readonly o: WatchOptions,
  ) {
    this.informer = makeInformer(kc, path, list);
    const changed = () => {
      this.lastActivity = Date.now();
      this.attempt = 0;
      o.onChange(resource);
    };
    this.informer.on('add', changed);
    this.informer.on('update', changed);
    this.informer.on('delete', changed);
    this.informer.on('connect', () => {
      this.lastActivity = Date.now();
    });
    // client-node informers stop for good on any error but 410: restart them ourselves.
    this.informer.on('error', (err: unknown) => {
      this.erroredSinceStart = true;
      o.log({ level: 'warn', event: 'agent.watch.error', resource, error: describe(err) });
      this.scheduleRestart('error');
    });
  }

  list(): T[] {
    return [...this.informer.list()];
  }

  async start() {
    this.stopped = false;
    this.erroredSinceStart = false;
    this.lastActivity = Date.now();
    await this.informer.start();
    // start() resolves once list + watch are set up, or after it reported an error (handled above).
    if (!this.erroredSinceStart && !this.stopped) {
      this.synced = true;
      this.attempt = 0;
      this.o.onChange(this.resource);
    }
  }

  private scheduleRestart(cause: 'error' | 'stall') {
    if (this.stopped || this.restartTimer) return;
    const delay = backoffDelay(this.attempt++, this.o.backoffBaseMs, this.o.backoffMaxMs, this.o.rand ?? Math.random);
    this.o.onRestart(this.resource, cause);
    this.restartTimer = setTimeout(async () => {
      this.restartTimer = undefined;
      if (this.stopped) return;
      await this.informer.stop();
      await this.start().catch((err) => {
        this.o.log({ level: 'warn', event: 'agent.watch.restart_failed', resource: this.resource, error: describe(err) });
        this.scheduleRestart('error');
      });
    }, delay);
  }

  /** Called periodically: a watch that has been silent longer than stallMs is restarted (client-node #2385). */
  checkStall(now: number) {
    if (!this.stopped && !this.restartTimer && now - this.lastActivity > this.o.stallMs) {
      this.o.log({ level: 'warn', event: 'agent.watch.stalled', resource: this.resource, silentMs: now - this.lastActivity });
      this.lastActivity = now;
      this.scheduleRestart('stall');
    }
  }

  async stop() {
    this.stopped = true;
    if (this.restartTimer) clearTimeout(this.restartTimer);
    this.restartTimer = undefined;
    await this.informer.stop();
  }
}

export function describe(err: unknown): string {
  if (!err) return 'unknown';
  const e = err as { name?: string; message?: string; code?: number; statusCode?: number };
  return [e.name, e.code ?? e.statusCode, e.message?.slice(0, 300)].filter((x) => x !== undefined).join(': ');
}
