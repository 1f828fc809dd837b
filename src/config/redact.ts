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
