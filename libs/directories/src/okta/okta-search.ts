/**
 * A quoted string for Okta's `search=` expression. Okta follows SCIM filtering (RFC 7644 §3.4.2.2), whose
 * string values are JSON strings, so `"` and `\` (and control characters) are escaped as JSON escapes them.
 * The SDK URL-encodes the whole expression as a query parameter.
 */
export function searchString(value: string): string {
  return JSON.stringify(value);
}

/** `attribute eq "value"`, the attribute being a fixed name from our code, never user input. */
export function searchEquals(attribute: 'profile.email' | 'profile.login' | 'id', value: string): string {
  return `${attribute} eq ${searchString(value)}`;
}
