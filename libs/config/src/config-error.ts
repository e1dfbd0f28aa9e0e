/** A configuration problem; the message names the key so an operator can fix it without reading code. */
export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}
