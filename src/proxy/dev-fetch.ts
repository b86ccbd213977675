/** Dev/test fetch: turns the outbound hook's connect-failure marker back into the error production fetch() throws. */

const MARKER = 'x-edgeway-dev-connect-error';

export function devFetch(fetcher: (request: Request) => Promise<Response>) {
  return async (request: Request): Promise<Response> => {
    const response = await fetcher(request);
    const code = response.headers.get(MARKER);
    if (code) {
      await response.body?.cancel();
      throw Object.assign(new Error(`Network connection lost. (${code})`), { retryable: true, remote: true });
    }
    return response;
  };
}
