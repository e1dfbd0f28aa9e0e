import { parseProtectedEntries } from '../ldap';
import { AdAccountFacts, builtInProtection, listedEntry } from './ad-protection';

const facts = (over: Partial<AdAccountFacts> = {}): AdAccountFacts => ({
  guid: '7a4267ce-d354-44e7-8bd6-c681f1284a41',
  sid: 'S-1-5-21-1-2-3-1104',
  sam: 'jdoe',
  upn: 'jdoe@corp.example',
  mail: 'john.doe@example.org',
  uac: 0x200,
  netbios: 'CORP',
  ...over,
});
const listed = (entries: string[], f: AdAccountFacts) =>
  listedEntry(parseProtectedEntries(entries, 'ad').listed, f);

describe('builtInProtection', () => {
  it('protects domain controllers, read-only ones included', () => {
    expect(builtInProtection(facts({ uac: 0x2000 | 0x80000 }))).toMatch(/domain controller/);
    expect(builtInProtection(facts({ uac: 0x1000 | 0x4000000 }))).toMatch(/domain controller/);
    expect(builtInProtection(facts({ uac: 0x1000 }))).toBeNull();
  });

  it('protects krbtgt by RID 502 whatever its name, and krbtgt_<n> by name', () => {
    expect(builtInProtection(facts({ sid: 'S-1-5-21-1-2-3-502', sam: 'renamed' }))).toMatch(/krbtgt/);
    expect(builtInProtection(facts({ sam: 'KRBTGT_31337' }))).toMatch(/krbtgt/);
    expect(builtInProtection(facts({ sid: 'S-1-5-21-1-2-3-5020', sam: 'krbtgtfan' }))).toBeNull();
  });
});

describe('listedEntry', () => {
  it('matches each identifier form, case-insensitively, and returns the entry as written', () => {
    for (const entry of [
      'JDOE',
      'corp\\JDoe',
      'JDOE@CORP.EXAMPLE',
      'John.Doe@example.org',
      '{7A4267CE-D354-44E7-8BD6-C681F1284A41}',
      '<SID=S-1-5-21-1-2-3-1104>',
    ]) {
      expect(listed(['someone-else', entry], facts())).toBe(entry);
    }
    expect(listed(['jdoe2', 'LAB\\jdoe', 'S-1-5-21-1-2-3-1105'], facts())).toBeNull();
  });

  it('names a computer with or without its trailing $', () => {
    expect(listed(['pc01'], facts({ sam: 'PC01$' }))).toBe('pc01');
    expect(listed(['CORP\\pc01'], facts({ sam: 'PC01$' }))).toBe('CORP\\pc01');
  });

  it('errs towards protecting when the NetBIOS name is unknown', () => {
    expect(listed(['LAB\\jdoe'], facts({ netbios: null }))).toBe('LAB\\jdoe');
  });

  it('leaves DNs to the server', () => {
    const parsed = parseProtectedEntries(['CN=Admins,DC=corp,DC=example', 'jdoe'], 'ad');
    expect(parsed.dns).toEqual(['CN=Admins,DC=corp,DC=example']);
    expect(parsed.listed.map((l) => l.entry)).toEqual(['jdoe']);
  });
});
