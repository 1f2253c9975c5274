/**
 * One HTTP call as the end-to-end tests make them: JSON in (a string is sent as it is, for
 * malformed bodies), JSON out when the answer parses, text otherwise.
 */
export interface HttpAnswer {
  status: number;
  body: unknown;
  headers: Headers;
}

export async function httpCall(base: string, method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<HttpAnswer> {
  const response = await fetch(`${base}${path}`, {
    method,
    headers: body === undefined ? headers : { 'content-type': 'application/json', ...headers },
    ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
  });
  const text = await response.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    // text/plain answers stay text
  }
  return { status: response.status, body: parsed, headers: response.headers };
}
