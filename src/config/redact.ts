/**
 * Masking of secrets in what llmspell prints, by the structure of connection strings rather than
 * by patterns over text: a URL's userinfo password and every query parameter whose
 * percent-decoded, lower-cased name bears a password (`password`, `sslpassword`, `Pass%77ord`, …),
 * and the values of such keywords in keyword-form strings (`host=h password='it''s'`). Where a URL
 * does not parse, the masking errs on the side of hiding more.
 *
 * Every function here runs in time linear in the length of its input: no backtracking regular
 * expression sees a value, and no search restarts from the beginning.
 */

/** The mask that replaces a secret in output. */
export const REDACTED = '***';

/** How many characters of a value a message echoes; the rest is counted, not shown. */
export const ECHO_LIMIT = 80;

/**
 * A value cut for a message: the first {@link ECHO_LIMIT} characters and how long it was. Mask
 * before shortening, so that a password is never half shown.
 *
 * @example
 * shorten('x'.repeat(100)) // 'xxxx…x… (100 characters)' (80 x)
 */
export function shorten(text: string, limit = ECHO_LIMIT): string {
  const shown = text.length <= limit ? text : `${head(text, limit)}… (${text.length} characters)`;
  return printable(shown);
}

/** Control characters (C0 but tab, DEL, C1): what a terminal would act on rather than show. */
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u0008\u000a-\u001f\u007f-\u009f]/g;

/**
 * Text as a message may show it to a terminal: control characters (escape sequences, bells, NUL,
 * line breaks) written as `\u001b` and the like, so that input echoed in an error can neither
 * drive the terminal nor fake further lines of output.
 */
export function printable(text: string): string {
  return text.replace(CONTROL, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** The first `limit` characters of `text`, never ending on the first half of a surrogate pair. */
function head(text: string, limit: number): string {
  return text.slice(0, isHighSurrogate(text.charCodeAt(limit - 1)) ? limit - 1 : limit);
}

const isHighSurrogate = (code: number) => code >= 0xd800 && code <= 0xdbff;

/** Whitespace as `\s` knows it, by code. */
function isSpace(code: number): boolean {
  return (
    code <= 0x20 ||
    code === 0x85 ||
    code === 0xa0 ||
    code === 0x1680 ||
    (code >= 0x2000 && code <= 0x200a) ||
    code === 0x2028 ||
    code === 0x2029 ||
    code === 0x202f ||
    code === 0x205f ||
    code === 0x3000 ||
    code === 0xfeff
  );
}

const isLetter = (code: number) => (code >= 0x41 && code <= 0x5a) || (code >= 0x61 && code <= 0x7a);
const isDigit = (code: number) => code >= 0x30 && code <= 0x39;
/** A character of a URL scheme after its first letter (RFC 3986): letters, digits, `+`, `-`, `.`. */
const isSchemeChar = (code: number) =>
  isLetter(code) || isDigit(code) || code === 0x2b || code === 0x2d || code === 0x2e;
/** A character of a parameter name: letters, digits, `_`, `-`, `.`, and `%` `+` of an encoded one. */
const isNameChar = (code: number) =>
  isSchemeChar(code) || code === 0x5f || code === 0x25 || (code >= 0x80 && !isSpace(code));

/** Percent-decodes (leniently: a malformed escape stays as it is), so `pass%77ord` reads `password`. */
function percentDecode(text: string): string {
  if (!text.includes('%')) return text;
  try {
    return decodeURIComponent(text);
  } catch {
    return text.replace(/%([0-9a-f]{2})/gi, (_, hex: string) => String.fromCharCode(parseInt(hex, 16)));
  }
}

const SECRET_NAME = /pass|pwd|secret|token/i;

/**
 * Whether a connection parameter (a URL query name or a keyword) carries a secret, read as libpq
 * and `pg` read it: percent-decoded (up to three times, for names encoded twice) and in any case.
 * Errs on the side of masking: `password`, `sslpassword`, `passfile`, anything with `pass`, `pwd`,
 * `secret` or `token` in it.
 */
export function isSecretParameter(name: string): boolean {
  if (name.length < 3) return false;
  let decoded = name;
  for (let round = 0; round < 3 && decoded.includes('%'); round++) decoded = percentDecode(decoded);
  return SECRET_NAME.test(decoded);
}

/** URLs longer than this are not handed to the WHATWG parser (slow on megabytes): masked conservatively. */
const MAX_PARSED_URL = 65_536;
/** The placeholder credentials of the documentation's example URLs (`postgresql://USER:PASSWORD@HOST/…`), left readable in text. */
const PLACEHOLDERS = new Set(['USER:PASSWORD', 'user:password']);

/** Spans of text to replace by the mask, flat: `[start, end, start, end, …]`, in order. */
type Spans = number[];

/** How many masked values a scan collects (for {@link passwordsIn}); output registers far fewer. */
const MAX_FOUND = 256;

/** Replaces the spans with the mask, collecting what they hid into `found` (when given). */
function maskSpans(text: string, spans: Spans, found: string[] | undefined): string {
  if (spans.length === 0) return text;
  const parts: string[] = [];
  let copied = 0;
  for (let i = 0; i < spans.length; i += 2) {
    const start = spans[i]!;
    const end = spans[i + 1]!;
    if (start < copied) continue;
    if (found && found.length < MAX_FOUND) found.push(text.slice(start, end));
    parts.push(text.slice(copied, start), REDACTED);
    copied = end;
  }
  parts.push(text.slice(copied));
  return parts.join('');
}

/** Whether every `@` after the authority sits in the value of a `name=value` query parameter (`?user=me@corp`). */
function atsOnlyInQueryValues(url: string, authorityEnd: number): boolean {
  const query = url.indexOf('?', authorityEnd);
  if (query < 0 || url.lastIndexOf('@', query) >= authorityEnd) return false;
  const hash = url.indexOf('#', query);
  if (hash >= 0 && url.indexOf('@', hash) >= 0) return false;
  return url
    .slice(query + 1, hash < 0 ? url.length : hash)
    .split('&')
    .every((entry) => {
      const at = entry.indexOf('@');
      return at < 0 || entry.slice(0, at).includes('=');
    });
}

/**
 * The spans to mask in one URL (`scheme://…`, without surrounding text): the userinfo password,
 * the values of password-bearing query parameters, entries without `=` after one of those and
 * the fragment after one (the rest of a password holding an unencoded `&` or `#`).
 *
 * A URL that the WHATWG parser accepts, with every `@` in its authority (or in query values), is
 * read as the parser reads it: the userinfo is the authority up to its last `@`. Any other is read
 * conservatively: everything from the first `:` after `scheme://` to the last `@` is the password.
 */
function urlSpans(url: string, keepPlaceholder: boolean): Spans {
  const rest = url.indexOf('://') + 3;
  let authorityEnd = url.length;
  for (const delimiter of ['/', '?', '#']) {
    const at = url.indexOf(delimiter, rest);
    if (at >= 0 && at < authorityEnd) authorityEnd = at;
  }
  const lastAt = url.lastIndexOf('@');
  const parses = url.length <= MAX_PARSED_URL && URL.canParse(url);
  const precise = parses && (lastAt < authorityEnd || atsOnlyInQueryValues(url, authorityEnd));
  const credentialsEnd = precise ? url.lastIndexOf('@', authorityEnd - 1) : lastAt;
  const spans: Spans = [];
  if (credentialsEnd >= rest) {
    const colon = url.indexOf(':', rest);
    if (colon >= 0 && colon < credentialsEnd) {
      if (!(keepPlaceholder && PLACEHOLDERS.has(url.slice(rest, credentialsEnd)))) {
        spans.push(colon + 1, credentialsEnd);
      }
    }
  } else if (!parses) {
    // No `@`, and not a valid URL: `user:pass` cut short (at a space in free text), unless a port.
    const colon = url.indexOf(':', rest);
    if (colon >= 0 && colon < authorityEnd && !/^\d*$/.test(url.slice(colon + 1, authorityEnd))) {
      spans.push(colon + 1, authorityEnd);
    }
  }
  const query = url.indexOf('?', Math.max(credentialsEnd + 1, precise ? authorityEnd : rest));
  if (query >= 0) querySpans(url, query + 1, spans);
  return spans;
}

/** The spans to mask in the query starting at `start` (after `?`), and in the fragment after it. */
function querySpans(url: string, start: number, spans: Spans): void {
  const hash = url.indexOf('#', start);
  const end = hash < 0 ? url.length : hash;
  let secretSeen = false;
  let nextEq = url.indexOf('=', start);
  for (let entry = start; entry < end;) {
    const amp = url.indexOf('&', entry);
    const stop = amp < 0 || amp > end ? end : amp;
    // The next `=` is looked for again only once passed, so entries without one cost nothing.
    if (nextEq >= 0 && nextEq < entry) nextEq = url.indexOf('=', entry);
    const eq = nextEq >= 0 && nextEq < stop ? nextEq : -1;
    if (eq < 0) {
      if (secretSeen && stop > entry) spans.push(entry, stop);
    } else if (isSecretParameter(url.slice(entry, eq))) {
      secretSeen = true;
      if (stop > eq + 1 && !isOwnMask(url, eq + 1, stop)) spans.push(eq + 1, stop);
    }
    if (amp < 0) break;
    entry = stop + 1;
  }
  if (secretSeen && hash >= 0 && hash + 1 < url.length) spans.push(hash + 1, url.length);
}

/**
 * Whether `text[start, end)` is a mask already in place, perhaps with the closing quotes or
 * brackets of what held it: masking again changes nothing.
 */
function isOwnMask(text: string, start: number, end: number): boolean {
  return end - start <= 6 && text.startsWith(REDACTED, start) && /^["'\\,;)\]}]*$/.test(text.slice(start + 3, end));
}

/**
 * The end of a keyword's value starting at `start`: a single-quoted value with its `\x` escapes
 * (and `''`, read as a quote, to err on the side of masking), or an unquoted one up to whitespace
 * or `&`. An unterminated quote runs to the end of the line (`oneLine`) or of the text.
 */
function keywordValueEnd(text: string, start: number, oneLine: boolean): number {
  let i = start;
  if (text.charCodeAt(i) === 0x27) {
    for (i++; i < text.length; i++) {
      const code = text.charCodeAt(i);
      if (code === 0x5c) i++;
      else if (code === 0x27) {
        if (text.charCodeAt(i + 1) !== 0x27) return i + 1;
        i++;
      } else if (oneLine && code === 0x0a) return i;
    }
    return text.length;
  }
  for (; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (isSpace(code) || code === 0x26) break;
    if (code === 0x5c) i++;
  }
  return Math.min(i, text.length);
}

/** The spans of the values of password-bearing keywords (`password = …`, `sslpassword=…`) in `text`. */
function keywordSpans(text: string, oneLine: boolean): Spans {
  const spans: Spans = [];
  let floor = 0;
  for (let eq = text.indexOf('='); eq >= 0; eq = text.indexOf('=', floor)) {
    let nameEnd = eq;
    while (nameEnd > floor && (text.charCodeAt(nameEnd - 1) === 0x20 || text.charCodeAt(nameEnd - 1) === 0x09))
      nameEnd--;
    let nameStart = nameEnd;
    while (nameStart > floor && isNameChar(text.charCodeAt(nameStart - 1))) nameStart--;
    floor = eq + 1;
    if (nameStart === nameEnd || !isSecretParameter(text.slice(nameStart, nameEnd))) continue;
    let start = eq + 1;
    while (start < text.length && (text.charCodeAt(start) === 0x20 || text.charCodeAt(start) === 0x09)) start++;
    const end = keywordValueEnd(text, start, oneLine);
    if (end > start && !(oneLine && isOwnMask(text, start, end))) spans.push(start, end);
    floor = Math.max(floor, end);
  }
  return spans;
}

/** Masks each `scheme://…` URL of free text (a URL runs to the next whitespace). */
function maskUrlsIn(text: string, found: string[] | undefined): string {
  let out = '';
  let copied = 0;
  for (let sep = text.indexOf('://'); sep >= 0; sep = text.indexOf('://', Math.max(sep + 3, copied))) {
    let start = sep;
    while (start > copied && isSchemeChar(text.charCodeAt(start - 1))) start--;
    while (start < sep && !isLetter(text.charCodeAt(start))) start++;
    if (start === sep) continue;
    let end = sep + 3;
    while (end < text.length && !isSpace(text.charCodeAt(end))) end++;
    const url = text.slice(start, end);
    out += text.slice(copied, start) + maskSpans(url, urlSpans(url, true), found);
    copied = end;
  }
  return copied === 0 ? text : out + text.slice(copied);
}

const LEADING_URL = /^\s*[a-z][a-z0-9+.-]*:\/\//i;

/**
 * Masks the passwords of one connection string, whether URL form
 * (`postgresql://user:pass@host/db?sslpassword=…`) or keyword form (`host=… password='…'`).
 * `found`, when given, collects what was masked (the first 256 values).
 *
 * @example
 * redactConnectionString('postgresql://app:s3cret@db/x?pass%77ord=y') // 'postgresql://app:***@db/x?pass%77ord=***'
 */
export function redactConnectionString(text: string, found?: string[]): string {
  const lead = LEADING_URL.exec(text);
  if (lead) {
    const at = lead[0].length - lead[0].trimStart().length;
    const url = text.slice(at);
    return text.slice(0, at) + maskSpans(url, urlSpans(url, false), found);
  }
  const urls = maskUrlsIn(text, found);
  return maskSpans(urls, keywordSpans(urls, false), found);
}

/**
 * Masks the password of every connection string in free text (an error message, a line of a
 * file): each `scheme://…` URL (up to the next whitespace) and each password-bearing `name=value`
 * pair, in URL queries and keyword-form strings alike. An unquoted value runs to whitespace or
 * `&`, a quoted one to its closing quote or the end of its line. The example URLs of hints
 * (`USER:PASSWORD@HOST`, `user:password@host`) are left as they are, and so is text masked
 * already.
 *
 * @example
 * redactConnectionStringsIn('got "postgresql://app:s3cret@db/x"') // 'got "postgresql://app:***@db/x"'
 */
export function redactConnectionStringsIn(text: string, found?: string[]): string {
  const urls = maskUrlsIn(text, found);
  return maskSpans(urls, keywordSpans(urls, true), found);
}

/**
 * A JSON-like value with every string in it (and every object key) masked by `mask`: for JSON
 * documents, which are masked before they are serialised, so escapes never hide a password.
 */
export function redactValue(value: unknown, mask: (text: string) => string = redactConnectionStringsIn): unknown {
  if (typeof value === 'string') return mask(value);
  if (Array.isArray(value)) return value.map((item) => redactValue(item, mask));
  if (typeof value !== 'object' || value === null) return value;
  const json = (value as { toJSON?: () => unknown }).toJSON;
  if (typeof json === 'function') return redactValue(json.call(value), mask);
  return Object.fromEntries(Object.entries(value).map(([key, item]) => [mask(key), redactValue(item, mask)]));
}

/** What kind of value it is, in words, for a secret key's value that must not be echoed. */
function kindOf(value: unknown): string {
  if (Array.isArray(value)) return 'an array';
  if (value instanceof Date) return 'a date';
  if (typeof value === 'object' && value !== null) return 'a table';
  return typeof value === 'string' ? `a string of ${value.length} characters` : `a ${typeof value}`;
}

/**
 * A value as an error message echoes it: JSON, with the password of any connection string in it
 * masked, then cut to {@link ECHO_LIMIT} characters. With `secret` (a key the schema marks
 * secret), anything but a string or a number is described by its kind only.
 *
 * @example
 * describeValue('postgresql://app:s3cret@db/x') // '"postgresql://app:***@db/x"'
 * describeValue(8) // '8'
 */
export function describeValue(value: unknown, options: { secret?: boolean } = {}): string {
  if (typeof value === 'string') {
    const masked = redactConnectionString(value);
    if (masked.length <= ECHO_LIMIT) return JSON.stringify(masked);
    return `${JSON.stringify(head(masked, ECHO_LIMIT))}… (${value.length} characters)`;
  }
  if (options.secret && typeof value !== 'number' && typeof value !== 'boolean') return kindOf(value);
  if (value === undefined) return 'undefined';
  return shorten(JSON.stringify(redactValue(value)) ?? String(value));
}

/** Undoes the quoting of a keyword value: `'it\'s'` → `it's`. */
function unquote(value: string): string {
  if (!value.startsWith("'")) return value;
  return value.replace(/^'|'$/g, '').replace(/\\(.)|''/gs, (pair, escaped: string | undefined) => escaped ?? "'");
}

/** The passwords found in connection strings (raw, unquoted and percent-decoded), so that any text can be scrubbed of them. */
export function passwordsIn(connectionStrings: ReadonlyArray<string | undefined>): string[] {
  const found: string[] = [];
  for (const text of connectionStrings) if (text) redactConnectionString(text, found);
  const variants = found.flatMap((raw) => {
    const plain = unquote(raw);
    return [plain, percentDecode(plain)];
  });
  return [...new Set(variants.filter((p) => p.length > 0 && p !== REDACTED))];
}

/**
 * Replaces every occurrence of `secret` in `text` by the mask, by Knuth–Morris–Pratt: linear in
 * both lengths, where `String.prototype.split` is quadratic for some patterns.
 */
function replaceSecret(text: string, secret: string): string {
  const m = secret.length;
  const fallback = new Int32Array(m);
  for (let i = 1, k = 0; i < m; i++) {
    while (k > 0 && secret.charCodeAt(i) !== secret.charCodeAt(k)) k = fallback[k - 1]!;
    if (secret.charCodeAt(i) === secret.charCodeAt(k)) k++;
    fallback[i] = k;
  }
  let out = '';
  let copied = 0;
  for (let i = 0, k = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    while (k > 0 && code !== secret.charCodeAt(k)) k = fallback[k - 1]!;
    if (code === secret.charCodeAt(k)) k++;
    if (k === m) {
      out += text.slice(copied, i - m + 1) + REDACTED;
      copied = i + 1;
      k = 0;
    }
  }
  return copied === 0 ? text : out + text.slice(copied);
}

/**
 * Replaces every occurrence of each secret in `text` with the mask (longest first). Linear in the
 * text for each secret: a secret whose first 16 characters do not occur is skipped after one
 * native search, the others are replaced by {@link replaceSecret}.
 */
export function scrubSecrets(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const secret of [...secrets].sort((a, b) => b.length - a.length)) {
    if (secret.length > 0 && out.includes(secret.slice(0, 16))) out = replaceSecret(out, secret);
  }
  return out;
}
