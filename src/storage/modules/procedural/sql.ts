/**
 * The statements of procedural memory, over `llmspell.procedural_memory` (migration 0004). A
 * pattern is found through the unique index `(tenant_id, scope, pattern_hash)`, with the hash
 * written as the generated column computes it; `top` reads `procedural_memory_frequent`.
 */
import * as z from 'zod/mini';
import { integer, jsonObject, text, timestamp } from '../../values/fields.js';
import { statement } from '../../mechanism/statement.js';
import { frequency, MAX_SCOPE_BYTES, patternRow } from './types.js';

const RETURNED = `id, scope, pattern_key AS key, pattern_value AS value, frequency, first_seen AS "firstSeen",
  last_seen AS "lastSeen", metadata`;

/** The generated column `pattern_hash`, for `$key` and `$value` (see migration 0004 for why this form). */
const PATTERN_HASH = String.raw`sha256(decode(replace($key, '\', '\\'), 'escape')) || sha256(decode(replace($value, '\', '\\'), 'escape'))`;

const pattern = { scope: text(MAX_SCOPE_BYTES), key: text(), value: text(undefined, { allowEmpty: true }) };

/**
 * Counts one sighting, atomically: a new pattern starts at 1, a known one gains 1 however many
 * record it at once (the unique key serialises them). `last_seen` never moves back (a transaction
 * that began earlier may commit later); the metadata is merged at the top level.
 */
export const record = statement({
  name: 'procedural.record',
  sql: `INSERT INTO llmspell.procedural_memory AS p (tenant_id, scope, pattern_key, pattern_value, metadata, last_seen)
        VALUES ($tenant, $scope, $key, $value, COALESCE($metadata::jsonb, '{}'), now())
        ON CONFLICT ON CONSTRAINT procedural_memory_pattern_unique
        DO UPDATE SET frequency = p.frequency + 1, last_seen = GREATEST(p.last_seen, excluded.last_seen),
                      metadata = p.metadata || excluded.metadata
        RETURNING ${RETURNED}`,
  params: { ...pattern, metadata: z.optional(jsonObject()) },
  row: patternRow,
});

export const get = statement({
  name: 'procedural.get',
  sql: `SELECT ${RETURNED} FROM llmspell.procedural_memory
         WHERE tenant_id = $tenant AND scope = $scope AND pattern_hash = ${PATTERN_HASH}`,
  params: pattern,
  row: patternRow,
});

/** The most frequent patterns of a scope, through `procedural_memory_frequent`. */
export const top = statement({
  name: 'procedural.top',
  sql: `SELECT ${RETURNED} FROM llmspell.procedural_memory
         WHERE tenant_id = $tenant AND scope = $scope AND frequency >= $minFrequency
         ORDER BY frequency DESC, last_seen DESC LIMIT $limit`,
  params: { scope: text(MAX_SCOPE_BYTES), minFrequency: frequency(), limit: integer(1, 1000) },
  row: patternRow,
});

export const prune = statement({
  name: 'procedural.prune',
  sql: `DELETE FROM llmspell.procedural_memory
         WHERE tenant_id = $tenant AND ($scope::text IS NULL OR scope = $scope)
           AND ($olderThan::timestamptz IS NULL OR last_seen < $olderThan)
           AND ($maxFrequency::bigint IS NULL OR frequency <= $maxFrequency)`,
  params: {
    scope: z.optional(text(MAX_SCOPE_BYTES)),
    olderThan: z.optional(timestamp()),
    maxFrequency: z.optional(frequency()),
  },
});
