import {
  Attribute,
  BerWriter,
  Change,
  Client,
  Control,
  FilterParser,
  InsufficientAccessError,
  NoSuchAttributeError,
  ResultCodeError,
} from 'ldapts';
import { escapeFilter } from './ldap-escape';
import { ProbeResult } from './ldap-probe';

/** RFC 4528: the server applies the operation only if the entry matches the filter. */
export const ASSERTION_CONTROL_OID = '1.3.6.1.1.12';
const ASSERTION_FAILED = 122;
const UNAVAILABLE_CRITICAL_EXTENSION = 12;

/** The LDAP Assertion control (ldapts has none); its value is the BER-encoded filter. */
export class AssertionControl extends Control {
  constructor(private readonly filter: string) {
    super(ASSERTION_CONTROL_OID, { critical: true });
  }

  protected override writeControl(writer: BerWriter): void {
    const value = new BerWriter();
    FilterParser.parseString(this.filter).write(value);
    writer.writeBuffer(value.buffer, 0x04);
  }
}

/**
 * Whether the bound identity may write `attribute` of the entry at `dn`, found out without changing it: a
 * modify that deletes one value the entry does not hold, guarded by an assertion that the entry does not hold
 * it. The server checks the write right first (insufficientAccess when it is missing), then finds nothing to
 * delete (noSuchAttribute): a refused modify, which changes nothing. Should the value appear meanwhile, the
 * assertion fails and the server does not apply the modify either, so no interleaving can make it a write.
 * A server that does not support the assertion control refuses the whole request (it is critical), and the
 * right is then reported as undecided rather than risked.
 */
export async function probeWriteRight(
  client: Client,
  dn: string,
  attribute: string,
  absentValue: string,
): Promise<ProbeResult> {
  try {
    await client.modify(
      dn,
      new Change({
        operation: 'delete',
        modification: new Attribute({ type: attribute, values: [absentValue] }),
      }),
      new AssertionControl(escapeFilter`(!(${attribute}=${absentValue}))`),
    );
  } catch (e) {
    if (e instanceof NoSuchAttributeError)
      return {
        ok: true,
        message: `may write ${attribute} of ${dn} (checked with a modify the server refused)`,
      };
    if (e instanceof InsufficientAccessError)
      return { ok: false, message: `may not write ${attribute} of ${dn}: insufficientAccess` };
    if (e instanceof ResultCodeError && e.code === UNAVAILABLE_CRITICAL_EXTENSION) {
      return {
        ok: null,
        message:
          `the server does not support the LDAP assertion control (RFC 4528), so the right to write ${attribute} ` +
          'cannot be checked without risking a write; check it by disabling and enabling a test account',
      };
    }
    if (e instanceof ResultCodeError && e.code === ASSERTION_FAILED)
      return { ok: null, message: `${dn} changed while it was checked; run the test again` };
    throw e;
  }
  // A server that ignored the critical control and the missing value would have nothing to undo: the value
  // is not there. Still, this is not an answer we understand.
  return {
    ok: null,
    message: `the server accepted a delete of a value ${dn} does not hold; cannot tell the right`,
  };
}
