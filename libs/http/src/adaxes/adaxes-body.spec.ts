import { PassThrough } from 'node:stream';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { DomainError } from '@app/domain';
import { adaxesBodyParser, parseDotNetJson } from './adaxes-body';

describe('parseDotNetJson', () => {
  it('reads the C# example of the Adaxes documentation, single quotes and all', () => {
    const csharp = `
        {
            'directoryObject': 'CN=John Smith,CN=Users,DC=example,DC=com'
        }`;
    expect(parseDotNetJson(csharp)).toEqual({ directoryObject: 'CN=John Smith,CN=Users,DC=example,DC=com' });
  });

  it("keeps escapes: \\' and a double quote inside single quotes, \\\\ and \\, as JSON reads them", () => {
    expect(parseDotNetJson(String.raw`{'a': 'O\'Brien "J"', "b": "x'y", 'c': 'CN=Smith\\, John'}`)).toEqual({
      a: `O'Brien "J"`,
      b: "x'y",
      c: 'CN=Smith\\, John',
    });
  });

  it('reads strict JSON as JSON (PowerShell 5.1 escapes < and > as \\u003c and \\u003e)', () => {
    expect(parseDotNetJson('{\r\n    "directoryObject":  "\\u003cGUID=1\\u003e"\r\n}')).toEqual({
      directoryObject: '<GUID=1>',
    });
  });

  it('gives no body for an empty one, and 400 invalidBody for what is not JSON even leniently', () => {
    expect(parseDotNetJson('  \n')).toBeUndefined();
    for (const text of ['{', "{'a': 'b}", 'directoryObject=x', '{"a": 1,}']) {
      expect(() => parseDotNetJson(text)).toThrow(
        expect.objectContaining({ httpStatus: 400, code: 'invalidBody' }) as DomainError,
      );
    }
  });
});

describe('adaxesBodyParser', () => {
  const run = (headers: Record<string, string>, body: Buffer | string, limit?: number) =>
    new Promise<{ error?: unknown; body?: unknown }>((resolve) => {
      const req = Object.assign(new PassThrough(), { headers }) as unknown as IncomingMessage & {
        body?: unknown;
      };
      adaxesBodyParser(limit)(req, {} as ServerResponse, (error?: unknown) =>
        resolve({ error, body: req.body }),
      );
      (req as unknown as PassThrough).end(body);
    });

  it('reads a body without a charset that is not UTF-8 as Windows-1252 (Windows PowerShell 5.1)', async () => {
    const latin1 = Buffer.from('{"directoryObject": "CN=Jürgen Groß,CN=Users,DC=corp,DC=test"}', 'latin1');
    const res = await run(
      { 'content-type': 'application/json', 'content-length': String(latin1.length) },
      latin1,
    );
    expect(res).toEqual({
      error: undefined,
      body: { directoryObject: 'CN=Jürgen Groß,CN=Users,DC=corp,DC=test' },
    });
  });

  it('reads UTF-8, with or without the charset named, and the charset a client names', async () => {
    const text = '{"directoryObject": "CN=Jürgen"}';
    const utf8 = Buffer.from(text, 'utf8');
    for (const type of ['application/json', 'application/json; charset=utf-8']) {
      expect((await run({ 'content-type': type, 'transfer-encoding': 'chunked' }, utf8)).body).toEqual({
        directoryObject: 'CN=Jürgen',
      });
    }
    const utf16 = Buffer.from(text, 'utf16le');
    expect(
      (await run({ 'content-type': 'application/json; charset=utf-16le', 'content-length': '1' }, utf16))
        .body,
    ).toEqual({
      directoryObject: 'CN=Jürgen',
    });
  });

  it('leaves other media types and bodiless requests to the rest of the stack', async () => {
    expect(await run({ 'content-type': 'text/plain', 'content-length': '2' }, 'hi')).toEqual({});
    expect(await run({ 'content-type': 'application/json' }, '')).toEqual({});
  });

  it('refuses a body over the limit with 413, and an unknown charset or a compressed body with 415', async () => {
    const big = Buffer.alloc(100, 0x20);
    const declared = await run({ 'content-type': 'application/json', 'content-length': '100' }, big, 10);
    expect(declared.error).toMatchObject({ httpStatus: 413, code: 'payloadTooLarge' });
    const streamed = await run(
      { 'content-type': 'application/json', 'transfer-encoding': 'chunked' },
      big,
      10,
    );
    expect(streamed.error).toMatchObject({ httpStatus: 413 });
    const charset = await run(
      { 'content-type': 'application/json; charset=klingon', 'content-length': '2' },
      '{}',
    );
    expect(charset.error).toMatchObject({ httpStatus: 415, code: 'unsupportedMediaType' });
    const gzip = await run(
      { 'content-type': 'application/json', 'content-encoding': 'gzip', 'content-length': '2' },
      '{}',
    );
    expect(gzip.error).toMatchObject({ httpStatus: 415 });
  });
});
