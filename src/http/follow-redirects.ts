/**
 * fetch that follows a standby master's redirect (307/308 to the leader) itself, keeping every
 * header. Why: fetch drops `Authorization` on a redirect to another origin (the Fetch standard; the
 * leader is another host:port), so a client following a standby's 307 arrived at the leader
 * without its token and got 401. At most MAX_HOPS hops, http(s) only; the body must be a string
 * or absent (it is sent again). `response.url` is the URL that answered, as with fetch.
 */
const MAX_HOPS = 5;

export async function fetchFollowing(url: string | URL, init: RequestInit = {}, fetchImpl: typeof fetch = fetch): Promise<Response> {
  let target = new URL(url);
  for (let hop = 0; ; hop++) {
    const response = await fetchImpl(target, { ...init, redirect: 'manual' });
    const location = response.headers.get('location');
    if ((response.status !== 307 && response.status !== 308) || location === null || hop >= MAX_HOPS) return response;
    const next = new URL(location, target);
    if (next.protocol !== 'http:' && next.protocol !== 'https:') return response;
    await response.body?.cancel();
    target = next;
  }
}
