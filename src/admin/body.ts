/** Request bodies with a size limit: refused on Content-Length before reading, counted while streaming otherwise. */

export type BodyRead = { ok: true; bytes: Uint8Array } | { ok: false; status: 400 | 413; reason: string };

/** Checks the Content-Length header alone. null: fine (or absent); otherwise the refusal. */
export function checkContentLength(headers: Headers, limit: number): Extract<BodyRead, { ok: false }> | null {
  const raw = headers.get('content-length');
  if (raw === null) return null;
  if (!/^\d{1,15}$/.test(raw.trim())) return { ok: false, status: 400, reason: 'malformed Content-Length' };
  return Number(raw) > limit ? { ok: false, status: 413, reason: `Content-Length ${raw} over the ${limit}-byte limit` } : null;
}

/**
 * Reads a body of at most `limit` bytes. Content-Length over the limit is refused without reading anything; a body
 * without one (chunked) is read chunk by chunk and abandoned as soon as it passes the limit, so no more than one
 * chunk beyond the limit is ever pulled.
 */
export async function readLimited(request: Request, limit: number): Promise<BodyRead> {
  const early = checkContentLength(request.headers, limit);
  if (early) {
    await request.body?.cancel().catch(() => {});
    return early;
  }
  if (!request.body) return { ok: true, bytes: new Uint8Array(0) };
  const bytes = await readStreamLimited(request.body, limit);
  return bytes ? { ok: true, bytes } : { ok: false, status: 413, reason: `body over the ${limit}-byte limit` };
}

/**
 * Reads a stream of at most `limit` bytes, chunk by chunk; past the limit it cancels the stream and answers null, so
 * no more than one chunk beyond the limit is ever pulled. Shared by request bodies here and responses the CLI reads.
 */
export async function readStreamLimited(body: ReadableStream<Uint8Array>, limit: number): Promise<Uint8Array | null> {
  const reader = body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > limit) {
      await reader.cancel().catch(() => {});
      return null;
    }
    chunks.push(value);
  }
  const bytes = new Uint8Array(size);
  let at = 0;
  for (const c of chunks) {
    bytes.set(c, at);
    at += c.byteLength;
  }
  return bytes;
}
