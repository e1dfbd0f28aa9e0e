import { Attribute, BerReader, BerWriter, Control, ControlParser } from 'ldapts';
import { PostReadControl } from './post-read-control';

/** The control as a server answers it (RFC 4527): its OID and, as value, the entry as a SearchResultEntry. */
function answer(value: Buffer): BerReader {
  const w = new BerWriter();
  w.startSequence();
  w.writeString(PostReadControl.type);
  w.writeBuffer(value, 0x04);
  w.endSequence();
  return new BerReader(w.buffer);
}

function searchResultEntry(dn: string, attributes: Record<string, string[]>): Buffer {
  const w = new BerWriter();
  w.startSequence(0x64);
  w.writeString(dn);
  w.startSequence();
  for (const [type, values] of Object.entries(attributes)) new Attribute({ type, values }).write(w);
  w.endSequence();
  w.endSequence();
  return w.buffer;
}

/** How ldapts reads a response control: it hands an unknown type to the request control of that type. */
function parsedBy(request: PostReadControl, reader: BerReader): Control | null {
  return ControlParser.parse(reader, [request]);
}

describe('PostReadControl (RFC 4527)', () => {
  it('asks for the named attributes, not critical, so a server without it still performs the modify', () => {
    const w = new BerWriter();
    new PostReadControl(['pwdAccountLockedTime', 'entryUUID']).write(w);
    const r = new BerReader(w.buffer);
    r.readSequence();
    expect(r.readString()).toBe('1.3.6.1.1.13.2');
    expect(r.readBoolean()).toBe(false);
    const selection = new BerReader(r.readString(0x04, true) as Buffer);
    selection.readSequence();
    expect([selection.readString(), selection.readString()]).toEqual(['pwdAccountLockedTime', 'entryUUID']);
  });

  it('reads the entry the server returned, by attribute name in any case', () => {
    const control = new PostReadControl(['pwdAccountLockedTime']);
    const entry = searchResultEntry('uid=a,dc=example', { pwdAccountLockedTime: ['000001010000Z'] });
    expect(parsedBy(control, answer(entry))).toBe(control);
    expect(control.valuesOf('PWDACCOUNTLOCKEDTIME')).toEqual(['000001010000Z']);
  });

  it('an entry without the attribute reads as no values: the lock is gone', () => {
    const control = new PostReadControl(['pwdAccountLockedTime']);
    parsedBy(control, answer(searchResultEntry('uid=a,dc=example', {})));
    expect(control.valuesOf('pwdAccountLockedTime')).toEqual([]);
  });

  it('no answer, or one that is not an entry, reads as nothing returned: the caller reads the entry itself', () => {
    expect(new PostReadControl(['pwdAccountLockedTime']).valuesOf('pwdAccountLockedTime')).toBeNull();
    const garbled = new PostReadControl(['pwdAccountLockedTime']);
    parsedBy(garbled, answer(Buffer.from([0x30, 0x03, 0x04, 0x01, 0x41])));
    expect(garbled.valuesOf('pwdAccountLockedTime')).toBeNull();
    const truncated = new PostReadControl(['pwdAccountLockedTime']);
    parsedBy(truncated, answer(searchResultEntry('uid=a', { pwdAccountLockedTime: ['x'] }).subarray(0, 9)));
    expect(truncated.valuesOf('pwdAccountLockedTime')).toBeNull();
  });
});
