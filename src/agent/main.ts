/** Agent entry point (Node): `node dist/agent.mjs` in the container, or `npx tsx src/agent/main.ts` locally. */
import { KubeConfig } from '@kubernetes/client-node';
import { Agent } from './agent.js';
import { ConfigError, loadConfig } from './config.js';

async function main() {
  let config;
  try {
    config = loadConfig(process.env);
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(err.message);
      process.exit(2);
    }
    throw err;
  }
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromDefault(); // in-cluster service account, or KUBECONFIG when run outside
  const agent = new Agent(config, { kubeConfig });
  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    console.log(JSON.stringify({ level: 'info', event: 'agent.shutdown', signal }));
    const force = setTimeout(() => process.exit(1), 10_000);
    force.unref();
    await agent.stop();
    process.exit(0);
  };
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));
  const { port } = await agent.start();
  console.log(JSON.stringify({ level: 'info', event: 'agent.started', cluster: config.cluster, port, policy: config.policy }));
}

void main().catch((err) => {
  console.error(JSON.stringify({ level: 'error', event: 'agent.crashed', error: String(err) }));
  process.exit(1);
});
