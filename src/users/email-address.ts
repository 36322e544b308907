import { InvalidEmailError } from './users-errors.js'

// Deliberately simple: one @, no spaces, a dot in the domain. Deliverability is not ours to judge.
const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/
// Text that shows as nothing or reorders what follows: zero-width characters, joiners, the
// byte order mark, soft hyphens, bidirectional controls and isolates, variation selectors,
// Hangul fillers (all default-ignorable or format characters), and controls, private-use
// and unassigned code points, whose rendering nobody can predict.
const INVISIBLE = /[\p{Cc}\p{Cf}\p{Co}\p{Cs}\p{Cn}\p{Default_Ignorable_Code_Point}]/u

// The scripts a letter is told apart by; letters of any other script count as one more.
const SCRIPTS = [
  'Latin',
  'Cyrillic',
  'Greek',
  'Armenian',
  'Georgian',
  'Cherokee',
  'Hebrew',
  'Arabic',
  'Devanagari',
  'Thai',
  'Han',
  'Hiragana',
  'Katakana',
  'Hangul',
  'Bopomofo',
].map((name) => ({ name, letter: new RegExp(`\\p{Script=${name}}`, 'u') }))
// Scripts that are written together (UTS #39 "highly restrictive"): Japanese, Chinese with
// Bopomofo, Korean, each also with Latin. Any other mix in one label is refused.
const WRITTEN_TOGETHER = [
  ['Latin', 'Han', 'Hiragana', 'Katakana'],
  ['Latin', 'Han', 'Bopomofo'],
  ['Latin', 'Han', 'Hangul'],
].map((scripts) => new Set(scripts))

/**
 * The form emails are stored and compared in: Unicode NFKC (fullwidth, mathematical and
 * other compatibility look-alikes become their plain letters; NFD and NFC spellings agree),
 * trimmed, lower-cased. Login looks accounts up by it, refusing nothing, so an address
 * registered before these rules still signs in.
 */
export function canonicalEmail(raw: string): string {
  // Lower-casing can leave text NFKC no longer holds (İ becomes i and a combining dot).
  return raw.normalize('NFKC').trim().toLowerCase().normalize('NFKC')
}

/**
 * A new account's email in canonical form, refused when it holds invisible characters or
 * mixes scripts within a label (a Cyrillic "а" among Latin letters): both make one address
 * look like another. Whole-script look-alikes (a label all in Cyrillic that reads as Latin)
 * are not detected.
 */
export function normalizeEmail(raw: string): string {
  const email = canonicalEmail(raw)
  if (INVISIBLE.test(email)) {
    throw new InvalidEmailError('it holds an invisible or direction-control character')
  }
  if (email.length > 254 || !EMAIL.test(email)) throw new InvalidEmailError()
  if (email.split(/[@.]/).some(mixesScripts)) {
    throw new InvalidEmailError('a part of it mixes letters of different scripts')
  }
  return email
}

function mixesScripts(label: string): boolean {
  const scripts = new Set<string>()
  for (const char of label) {
    if (!/\p{L}/u.test(char)) continue
    scripts.add(SCRIPTS.find((script) => script.letter.test(char))?.name ?? 'other')
  }
  if (scripts.size <= 1) return false
  return !WRITTEN_TOGETHER.some((allowed) => [...scripts].every((name) => allowed.has(name)))
}
