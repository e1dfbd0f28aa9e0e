/**
 * Receivers often put a token in their URL (`?token=…`, `user:pass@`). The URL is stored whole, because it is
 * where deliveries go, but shown and logged with every query value and any password replaced, keeping the
 * parameter names so that an operator still recognises it.
 */
export function redactUrl(raw: string): string {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return '[invalid url]';
  }
  const userinfo = url.username ? `${url.username}${url.password ? ':***' : ''}@` : '';
  const query = url.search
    ? '?' +
      url.search
        .slice(1)
        .split('&')
        .map((pair) => {
          const eq = pair.indexOf('=');
          return eq < 0 ? '***' : `${pair.slice(0, eq)}=***`;
        })
        .join('&')
    : '';
  return `${url.protocol}//${userinfo}${url.host}${url.pathname}${query}`;
}
