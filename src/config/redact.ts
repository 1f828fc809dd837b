/** The mask that replaces a secret in output. */
export const REDACTED = '***';

const KEYWORD_PASSWORD = /(\bpassword\s*=\s*)('(?:[^'\\]|\\.)*'|[^&\s]+)/gi;

/**
 * Where the password of a URL-form connection string sits: between the first `:` after
 * `scheme://` and the last `@`. Deliberately lenient, so that a malformed URL (an unencoded `#`,
 * `/` or `@` in the password) is still found.
 */
function urlPasswordSpan(text: string): { start: number; end: number } | undefined {
  const scheme = text.indexOf('://');
  const at = text.lastIndexOf('@');
  if (scheme < 0 || at <= scheme) return undefined;
  const colon = text.indexOf(':', scheme + 3);
  if (colon < 0 || colon > at) return undefined;
  return { start: colon + 1, end: at };
}

/**
 * Masks the password of a connection string, whether URL form
 * (`postgresql://user:pass@host/db?password=…`) or keyword form (`host=… password=…`).
 * Errs on the side of masking: a malformed URL with an `@` loses everything between `user:` and
 * the last `@`.
 */
export function redactConnectionString(text: string): string {
  const span = urlPasswordSpan(text);
  const out = span ? `${text.slice(0, span.start)}${REDACTED}${text.slice(span.end)}` : text;
  return out.replace(KEYWORD_PASSWORD, `$1${REDACTED}`);
}

/** A `scheme://…` URL in free text, up to the next whitespace: a malformed password may hold quotes. */
const URL_IN_TEXT = /[a-z][a-z0-9+.-]*:\/\/\S+/gi;
/**
 * A `password=…` pair in free text. Unlike {@link KEYWORD_PASSWORD}, an unquoted value stops at a
 * quote or backslash too, so that the closing quote of a JSON or TOML string survives, and a quoted
 * one at the end of its line (an unterminated quote masks the rest of the line, not the text).
 */
const KEYWORD_PASSWORD_IN_TEXT = /(\bpassword\s*=\s*)('(?:[^'\\\n]|\\.)*'?|[^&\s"'\\]+)/gi;
/** The placeholder of the documentation's example URLs (`postgresql://USER:PASSWORD@HOST/…`), left readable. */
const PLACEHOLDER = 'PASSWORD';

/**
 * Masks the password of every connection string in free text (an error message, a TOML excerpt, a
 * JSON document): each `scheme://user:password@…` URL and each `password=…` pair, in URL queries
 * and keyword-form strings alike. Everything else, including a closing quote right after a URL,
 * is kept. The example URLs of hints (`USER:PASSWORD@HOST`) are left as they are.
 *
 * @example
 * redactConnectionStringsIn('got "postgresql://app:s3cret@db/x"') // 'got "postgresql://app:***@db/x"'
 */
export function redactConnectionStringsIn(text: string): string {
  const urls = text.replace(URL_IN_TEXT, (url) => {
    const span = urlPasswordSpan(url);
    if (!span || url.slice(span.start, span.end) === PLACEHOLDER) return url;
    return `${url.slice(0, span.start)}${REDACTED}${url.slice(span.end)}`;
  });
  return urls.replace(KEYWORD_PASSWORD_IN_TEXT, `$1${REDACTED}`);
}

/**
 * A value as an error message echoes it (JSON), with the password of any connection string in it
 * masked: use it wherever a message says what it got.
 *
 * @example
 * describeValue('postgresql://app:s3cret@db/x') // '"postgresql://app:***@db/x"'
 * describeValue(8) // '8'
 */
export function describeValue(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(redactConnectionString(value));
  return redactConnectionStringsIn(JSON.stringify(value) ?? String(value));
}

function decoded(text: string): string | undefined {
  try {
    return decodeURIComponent(text);
  } catch {
    return undefined;
  }
}

/** The passwords found in connection strings (raw and percent-decoded), so that any text can be scrubbed of them. */
export function passwordsIn(connectionStrings: ReadonlyArray<string | undefined>): string[] {
  const found: string[] = [];
  for (const text of connectionStrings) {
    if (!text) continue;
    const span = urlPasswordSpan(text);
    if (span) {
      const raw = text.slice(span.start, span.end);
      found.push(raw, decoded(raw) ?? raw);
    }
    for (const match of text.matchAll(KEYWORD_PASSWORD)) {
      const value = match[2]!;
      const unquoted = value.startsWith("'") ? value.slice(1, -1).replace(/\\(.)/g, '$1') : value;
      found.push(unquoted, decoded(unquoted) ?? unquoted);
    }
  }
  return [...new Set(found.filter((p) => p.length > 0))];
}

/** Replaces every occurrence of each secret in `text` with the mask (longest first). */
export function scrubSecrets(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const secret of [...secrets].sort((a, b) => b.length - a.length)) out = out.split(secret).join(REDACTED);
  return out;
}
