import { Attribute, BerReader, BerWriter, Control } from 'ldapts';

/** [APPLICATION 4], constructed: a SearchResultEntry (RFC 4511 §4.5.2), the value of a read control's answer. */
const SEARCH_RESULT_ENTRY = 0x64;
const OCTET_STRING = 0x04;

/**
 * The LDAP Post-Read control (RFC 4527): the server answers a modify with the entry as that very modify left
 * it, so a change is read back without another operation, and without a concurrent writer's change slipping
 * in between. Sent as not critical: a server that does not offer it still performs the modify and returns no
 * entry (`entry` stays null), and the caller reads the entry the ordinary way.
 *
 * ldapts has no class for it, but hands a response control it does not know to the request control of the
 * same type (ControlParser), which is how `entry` gets filled. Use one instance per request.
 */
export class PostReadControl extends Control {
  static readonly type = '1.3.6.1.1.13.2';

  /** The attributes returned, by lower-cased name; null when the answer carried no post-read entry. */
  entry: Map<string, string[]> | null = null;

  constructor(private readonly attributes: readonly string[]) {
    super(PostReadControl.type, { critical: false });
  }

  protected override writeControl(writer: BerWriter): void {
    const selection = new BerWriter();
    selection.startSequence();
    for (const a of this.attributes) selection.writeString(a);
    selection.endSequence();
    writer.writeBuffer(selection.buffer, OCTET_STRING);
  }

  /** A value that is not a SearchResultEntry leaves `entry` null: the caller reads the entry instead. */
  protected override parseControl(reader: BerReader): void {
    try {
      if (reader.readSequence(SEARCH_RESULT_ENTRY) === null) return;
      reader.readString(); // the entry's DN
      reader.readSequence();
      const end = reader.offset + reader.length;
      const entry = new Map<string, string[]>();
      while (reader.offset < end) {
        const at = reader.offset;
        const attribute = new Attribute();
        attribute.parse(reader);
        if (reader.offset <= at) return;
        entry.set(
          attribute.type.toLowerCase(),
          attribute.values.map((v) => v.toString()),
        );
      }
      this.entry = entry;
    } catch {
      this.entry = null;
    }
  }

  /** The values of one attribute as the modify left it ([] when it has none); null when nothing came back. */
  valuesOf(attribute: string): string[] | null {
    return this.entry ? (this.entry.get(attribute.toLowerCase()) ?? []) : null;
  }
}
