/** MS-ADTS 2.2.16 userAccountControl flags this adapter touches or tests. */
export const ACCOUNTDISABLE = 0x2;
/** A domain controller's computer account. */
export const SERVER_TRUST_ACCOUNT = 0x2000;
/** A read-only domain controller's computer account. */
export const PARTIAL_SECRETS_ACCOUNT = 0x4000000;

export const isDisabled = (uac: number): boolean => (uac & ACCOUNTDISABLE) !== 0;

export const isDomainController = (uac: number): boolean =>
  (uac & (SERVER_TRUST_ACCOUNT | PARTIAL_SECRETS_ACCOUNT)) !== 0;

/** Sets or clears ACCOUNTDISABLE and nothing else: every other flag is the administrator's and survives. */
export const withDisabled = (uac: number, disabled: boolean): number =>
  disabled ? (uac | ACCOUNTDISABLE) >>> 0 : (uac & ~ACCOUNTDISABLE) >>> 0;

/** AD returns the value as a signed 32-bit decimal string; parse it without trusting the sign. */
export function parseUac(raw: unknown): number {
  const n = Number(Array.isArray(raw) ? raw[0] : raw);
  if (!Number.isInteger(n)) throw new Error(`userAccountControl is not an integer: ${String(raw)}`);
  return n >>> 0;
}
