export const SCOPES = ['tasks:read', 'tasks:write', 'webhooks:manage', 'admin'] as const;
export type Scope = (typeof SCOPES)[number];

/** `admin` holds every scope. */
export function hasScope(granted: readonly string[], needed: Scope): boolean {
  return granted.includes('admin') || granted.includes(needed);
}
