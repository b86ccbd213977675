/** Lease-based leader election (coordination.k8s.io/v1): only the holder pushes, so replicas never race. */
import { CoordinationV1Api, type KubeConfig, type V1Lease } from '@kubernetes/client-node';
import { describe } from './watch.js';

export interface LeaderOptions {
  namespace: string;
  name: string;
  identity: string;
  leaseDurationMs: number;
  onChange: (leader: boolean) => void;
  log: (line: Record<string, unknown>) => void;
}

const code = (err: unknown) => (err as { code?: number }).code;

export class LeaseElector {
  private api: CoordinationV1Api;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private stopped = false;
  private lastRenew = 0;
  private inflight: Promise<boolean> = Promise.resolve(false);
  leader = false;

  constructor(
    kc: KubeConfig,
    private readonly o: LeaderOptions,
  ) {
    this.api = kc.makeApiClient(CoordinationV1Api);
  }

  private set(leader: boolean) {
    if (leader === this.leader) return;
    this.leader = leader;
    this.o.log({ level: 'info', event: leader ? 'agent.leader.acquired' : 'agent.leader.lost', identity: this.o.identity });
    this.o.onChange(leader);
  }

  private lease(existing?: V1Lease): V1Lease {
    const now = new Date();
    const mine = existing?.spec?.holderIdentity === this.o.identity;
    return {
      apiVersion: 'coordination.k8s.io/v1',
      kind: 'Lease',
      metadata: {
        name: this.o.name,
        namespace: this.o.namespace,
        ...(existing?.metadata?.resourceVersion ? { resourceVersion: existing.metadata.resourceVersion } : {}),
      },
      spec: {
        holderIdentity: this.o.identity,
        leaseDurationSeconds: Math.ceil(this.o.leaseDurationMs / 1000),
        acquireTime: mine && existing?.spec?.acquireTime ? existing.spec.acquireTime : now,
        renewTime: now,
        leaseTransitions: (existing?.spec?.leaseTransitions ?? 0) + (mine || !existing ? 0 : 1),
      },
    };
  }

  /** One attempt to acquire or renew. Conflicts mean someone else wrote first: not leader. */
  async tryAcquire(): Promise<boolean> {
    const { namespace, name } = this.o;
    try {
      let existing: V1Lease | undefined;
      try {
        existing = await this.api.readNamespacedLease({ name, namespace });
      } catch (err) {
        if (code(err) !== 404) throw err;
      }
      if (!existing) {
        await this.api.createNamespacedLease({ namespace, body: this.lease() });
      } else {
        const holder = existing.spec?.holderIdentity;
        const renew = existing.spec?.renewTime ? new Date(existing.spec.renewTime).getTime() : 0;
        const duration = (existing.spec?.leaseDurationSeconds ?? 15) * 1000;
        if (holder && holder !== this.o.identity && renew + duration > Date.now()) {
          this.set(false);
          return false;
        }
        await this.api.replaceNamespacedLease({ name, namespace, body: this.lease(existing) });
      }
      this.lastRenew = Date.now();
      this.set(true);
      return true;
    } catch (err) {
      if (code(err) === 409) {
        this.set(false);
        return false;
      }
      this.o.log({ level: 'warn', event: 'agent.leader.error', error: describe(err) });
      // Keep leading only while our last renewal is still inside the lease duration.
      if (this.leader && Date.now() - this.lastRenew > this.o.leaseDurationMs) this.set(false);
      return this.leader;
    }
  }

  start() {
    const loop = async () => {
      if (this.stopped) return;
      this.inflight = this.tryAcquire();
      await this.inflight;
      if (!this.stopped) this.timer = setTimeout(loop, Math.max(200, this.o.leaseDurationMs / 3));
    };
    void loop();
  }

  /** Gives the Lease up so a successor need not wait for it to expire. */
  async stop() {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.inflight; // a renewal racing the release would make the release conflict (409)
    if (!this.leader) return;
    try {
      const existing = await this.api.readNamespacedLease({ name: this.o.name, namespace: this.o.namespace });
      if (existing.spec?.holderIdentity === this.o.identity) {
        existing.spec.holderIdentity = undefined as unknown as string;
        existing.spec.leaseDurationSeconds = 1;
        await this.api.replaceNamespacedLease({ name: this.o.name, namespace: this.o.namespace, body: existing });
      }
    } catch (err) {
      this.o.log({ level: 'warn', event: 'agent.leader.release_failed', error: describe(err) });
    }
    this.set(false);
  }
}
