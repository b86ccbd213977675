/** `edgeway hash-key`: the `sha256:<hex>` form of an API key read from stdin, for SecurityPolicy apiKeyAuth.keyHashes. */
import { hashApiKey } from '../security/apikey.js';

/** One trailing newline (what `echo` and editors add) is not part of the key; other whitespace is. */
export function keyFromInput(text: string): string {
  return text.replace(/\r?\n$/, '');
}

export async function readStdin(stream: AsyncIterable<Buffer | string> = process.stdin): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(typeof c === 'string' ? Buffer.from(c) : c);
  return Buffer.concat(chunks).toString('utf8');
}

export async function hashKeyCommand(input: string, out: { log(l: string): void; error(l: string): void }): Promise<number> {
  const key = keyFromInput(input);
  if (!key) {
    out.error('edgeway hash-key: no key on stdin (usage: printf %s "$KEY" | edgeway hash-key)');
    return 1;
  }
  if (/[\r\n]/.test(key)) {
    out.error('edgeway hash-key: the key spans several lines; pass exactly one key');
    return 1;
  }
  out.log(await hashApiKey(key));
  return 0;
}
