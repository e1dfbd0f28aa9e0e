import { AsyncResource } from 'node:async_hooks';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { badRequest, DomainError } from '@app/domain';

/** As the API's JSON parser: a task request is small, so a large body is a mistake or an attack. */
export const ADAXES_BODY_LIMIT_BYTES = 64 * 1024;

/**
 * Reads the JSON body of an Adaxes-style request as the clients of Adaxes (a .NET server) send it:
 * - Single-quoted strings, as in the C# example of Adaxes' own documentation, which Newtonsoft.Json accepts
 *   and `JSON.parse` does not.
 * - Windows PowerShell 5.1 encodes a string body as ISO-8859-1 without naming a charset, so a body that
 *   names none and is not valid UTF-8 is read as Windows-1252 (a superset of ISO-8859-1). `Jürgen` in a DN
 *   then arrives as `Jürgen`, not as `J�rgen`.
 * The API's JSON parser skips a request whose body this has read.
 */
export function adaxesBodyParser(limitBytes = ADAXES_BODY_LIMIT_BYTES) {
  return (req: IncomingMessage & { body?: unknown }, _res: ServerResponse, next: (e?: unknown) => void) => {
    const type = (req.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
    const hasBody =
      req.headers['transfer-encoding'] !== undefined || req.headers['content-length'] !== undefined;
    if (!hasBody || !(type === 'application/json' || type.endsWith('+json'))) return next();
    const encoding = (req.headers['content-encoding'] ?? 'identity').toLowerCase();
    if (encoding !== 'identity') {
      return next(
        new DomainError(415, 'unsupportedMediaType', `Content-Encoding ${encoding} is not accepted.`),
      );
    }
    const declared = Number(req.headers['content-length']);
    if (declared > limitBytes) return next(tooLarge(limitBytes));

    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    // Bound to the request's async context: stream events fire in the socket's, and the rest of the request
    // (its log lines' requestId above all) must not lose it.
    const finish = AsyncResource.bind((e?: unknown) => {
      if (done) return;
      done = true;
      if (e !== undefined) return next(e);
      try {
        req.body = parseDotNetJson(decode(Buffer.concat(chunks), charsetOf(req.headers['content-type'])));
        next();
      } catch (err) {
        next(err);
      }
    });
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limitBytes) finish(tooLarge(limitBytes));
      else if (!done) chunks.push(chunk);
    });
    req.on('end', () => finish());
    req.on('error', () => finish(badRequest('invalidBody', 'The request body could not be read.')));
  };
}

function tooLarge(limitBytes: number): DomainError {
  return new DomainError(413, 'payloadTooLarge', `The request body must be at most ${limitBytes} bytes.`);
}

function charsetOf(contentType: string | undefined): string | null {
  const m = /;\s*charset\s*=\s*"?([^";\s]+)"?/i.exec(contentType ?? '');
  return m ? m[1].toLowerCase() : null;
}

function decode(bytes: Buffer, charset: string | null): string {
  if (charset) {
    let decoder;
    try {
      decoder = new TextDecoder(charset);
    } catch {
      throw new DomainError(415, 'unsupportedMediaType', `The charset ${charset} is not supported.`);
    }
    return decoder.decode(bytes);
  }
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    return new TextDecoder('windows-1252').decode(bytes);
  }
}

/**
 * JSON, plus what Newtonsoft.Json also takes in a string: single quotes. Strict JSON is tried first, so a
 * valid body is never reinterpreted.
 */
export function parseDotNetJson(text: string): unknown {
  if (text.trim() === '') return undefined;
  try {
    return JSON.parse(text);
  } catch {
    try {
      return JSON.parse(singleQuotedToJson(text));
    } catch {
      throw badRequest('invalidBody', 'The request body is not valid JSON.');
    }
  }
}

/** Rewrites each single-quoted string as a double-quoted one; double-quoted strings are copied untouched. */
function singleQuotedToJson(text: string): string {
  let out = '';
  for (let i = 0; i < text.length; i++) {
    const quote = text[i];
    if (quote !== '"' && quote !== "'") {
      out += quote;
      continue;
    }
    let body = '';
    let j = i + 1;
    for (; j < text.length && text[j] !== quote; j++) {
      if (text[j] === '\\' && j + 1 < text.length) {
        j++;
        // `\'` is an escape only inside single quotes, and JSON has no such escape.
        body += quote === "'" && text[j] === "'" ? "'" : `\\${text[j]}`;
      } else body += quote === "'" && text[j] === '"' ? '\\"' : text[j];
    }
    if (j >= text.length) throw new SyntaxError('unterminated string');
    out += `"${body}"`;
    i = j;
  }
  return out;
}
