/** A refusal from /oauth2/v1/token, in OAuth's words (`error`, `error_description`), which carry no secret. */
export class OktaTokenEndpointError extends Error {
  constructor(
    readonly status: number,
    readonly oauthError: string | undefined,
    readonly description: string | undefined,
    readonly headers: unknown,
  ) {
    super(
      `Okta token endpoint HTTP ${status} ${oauthError ?? ''}${description ? `: ${description}` : ''}`.trim(),
    );
    this.name = 'OktaTokenEndpointError';
  }
}
