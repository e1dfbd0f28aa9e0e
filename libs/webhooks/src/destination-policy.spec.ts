import { canonicalAddress, DestinationPolicy, nonPublicReason } from './destination-policy';

describe('nonPublicReason', () => {
  it.each([
    ['127.0.0.1', 'loopback'],
    ['127.255.255.254', 'loopback'],
    ['10.1.2.3', 'private'],
    ['172.16.0.1', 'private'],
    ['172.31.255.255', 'private'],
    ['192.168.1.1', 'private'],
    ['169.254.169.254', 'link-local'],
    ['100.64.0.1', 'shared address space (CGNAT)'],
    ['0.0.0.0', 'this network'],
    ['198.18.0.1', 'benchmarking'],
    ['224.0.0.1', 'multicast'],
    ['255.255.255.255', 'reserved'],
    ['::1', 'loopback'],
    ['::', 'unspecified'],
    ['fe80::1', 'link-local'],
    ['fc00::1', 'unique-local'],
    ['fd00:ec2::254', 'unique-local'],
    ['ff02::1', 'multicast'],
    ['2001:db8::1', 'documentation'],
    ['::ffff:127.0.0.1', 'loopback'],
    ['::ffff:7f00:1', 'loopback'],
    ['[::ffff:a9fe:a9fe]', 'link-local'],
    ['64:ff9b::10.0.0.1', 'private'],
    ['2002:c0a8:0101::1', 'private'],
    ['::127.0.0.1', 'reserved'],
  ])('%s is %s', (ip, reason) => {
    expect(nonPublicReason(ip)).toBe(reason);
  });

  it.each([
    '93.184.215.14',
    '8.8.8.8',
    '172.32.0.1',
    '100.128.0.1',
    '2606:4700:4700::1111',
    '::ffff:8.8.8.8',
    '64:ff9b::8.8.8.8',
  ])('%s is public', (ip) => {
    expect(nonPublicReason(ip)).toBeNull();
  });

  it('canonicalises IPv4-mapped IPv6 to IPv4 and expands IPv6', () => {
    expect(canonicalAddress('::ffff:7f00:1')).toBe('127.0.0.1');
    expect(canonicalAddress('[FD00:EC2::254]')).toBe('fd00:ec2::254');
    expect(canonicalAddress('0:0:0:0:0:0:0:1')).toBe('::1');
    expect(canonicalAddress('2001:db8:0:0:1:0:0:1')).toBe('2001:db8::1:0:0:1');
    expect(canonicalAddress('fe80:0000:0000:0000:0000:0000:0000:0000')).toBe('fe80::');
    expect(canonicalAddress('example.com')).toBeNull();
  });
});

describe('DestinationPolicy', () => {
  const strict = new DestinationPolicy({ allowPrivate: false, allowedHosts: [] });

  it('refuses every non-public address, whatever name led to it', () => {
    expect(strict.refusal('hooks.example', '127.0.0.1')).toMatch(/loopback/);
    expect(strict.refusal('hooks.example', '::ffff:10.0.0.1')).toMatch(/private/);
    expect(strict.refusal('hooks.example', '169.254.169.254')).toMatch(/metadata/);
    expect(strict.refusal('hooks.example', 'fd00:ec2::254')).toMatch(/metadata/);
    expect(strict.refusal('hooks.example', '93.184.215.14')).toBeNull();
  });

  it('WEBHOOK_ALLOW_PRIVATE opens private ranges but not cloud metadata', () => {
    const open = new DestinationPolicy({ allowPrivate: true, allowedHosts: [] });
    expect(open.refusal('x', '127.0.0.1')).toBeNull();
    expect(open.refusal('x', '10.0.0.1')).toBeNull();
    expect(open.refusal('x', '169.254.169.254')).toMatch(/metadata/);
    expect(open.refusal('x', '::ffff:169.254.169.254')).toMatch(/metadata/);
    expect(open.refusal('x', 'fd00:ec2::254')).toMatch(/metadata/);
  });

  it('WEBHOOK_ALLOWED_HOSTS opens named hosts, addresses and ranges only', () => {
    const p = new DestinationPolicy({
      allowPrivate: false,
      allowedHosts: ['soar.corp.example', '*.hooks.corp.example', '10.20.0.0/16', '127.0.0.1', 'fd12::/16'],
    });
    expect(p.refusal('soar.corp.example', '10.9.9.9')).toBeNull();
    expect(p.refusal('SOAR.corp.example.', '10.9.9.9')).toBeNull();
    expect(p.refusal('a.hooks.corp.example', '192.168.0.1')).toBeNull();
    expect(p.refusal('other.corp.example', '10.20.3.4')).toBeNull();
    expect(p.refusal('other.corp.example', '10.21.3.4')).toMatch(/private/);
    expect(p.refusal('other.corp.example', '::ffff:127.0.0.1')).toBeNull();
    expect(p.refusal('other.corp.example', '127.0.0.2')).toMatch(/loopback/);
    expect(p.refusal('other.corp.example', 'fd12::5')).toBeNull();
    // A listed host name does not open the metadata service; only its address would.
    expect(p.refusal('soar.corp.example', '169.254.169.254')).toMatch(/metadata/);
    const meta = new DestinationPolicy({ allowPrivate: false, allowedHosts: ['169.254.169.254'] });
    expect(meta.refusal('x', '169.254.169.254')).toBeNull();
  });

  it('checks literal URLs and localhost names at subscription time, without DNS', () => {
    expect(strict.urlRefusal(new URL('http://127.0.0.1:8080/x'))).toMatch(/loopback/);
    expect(strict.urlRefusal(new URL('http://[::1]/'))).toMatch(/loopback/);
    expect(strict.urlRefusal(new URL('http://169.254.169.254/latest/meta-data'))).toMatch(/metadata/);
    expect(strict.urlRefusal(new URL('http://2130706433/'))).toMatch(/loopback/); // WHATWG: 127.0.0.1
    expect(strict.urlRefusal(new URL('http://0x7f.1/'))).toMatch(/loopback/);
    expect(strict.urlRefusal(new URL('http://[::ffff:127.0.0.1]/'))).toMatch(/loopback/);
    expect(strict.urlRefusal(new URL('http://localhost:3000/'))).toMatch(/loopback/);
    expect(strict.urlRefusal(new URL('http://api.localhost./'))).toMatch(/loopback/);
    expect(strict.urlRefusal(new URL('https://hooks.example.com/x'))).toBeNull();
    const open = new DestinationPolicy({ allowPrivate: true, allowedHosts: [] });
    expect(open.urlRefusal(new URL('http://localhost:3000/'))).toBeNull();
    expect(open.urlRefusal(new URL('http://169.254.169.254/'))).toMatch(/metadata/);
  });
});
