//! Every limit on `.keyroll.yaml`, in one place.
//!
//! The rule these serve: whatever `keyroll validate` accepts, every later step (plan, rotate,
//! status, where-used, the server's schedule tick) handles without panicking, in time and
//! memory proportional to the file. So each input that sizes an allocation, a loop or a date
//! computation has a bound here, and [`super::parse`] refuses a config over any of them,
//! naming the field (or, for the text-level limits, the line). The limits are far above what
//! a real credentials repository needs; `policies/schema.json` carries them too where JSON
//! Schema can say so.

// --- The text, checked before it reaches the YAML deserializer ---

/// Largest config file, in bytes (1 MiB). A config a hundred times the size of a large real
/// one; the cap bounds the time and memory every later pass can take.
pub const MAX_CONFIG_BYTES: usize = 1 << 20;

/// Deepest nesting of YAML collections. A valid config nests at most 7 deep
/// (`credentials.x.locations[0].format.delimited`); YAML readers slow down quadratically
/// with flow nesting and recurse per level, so nesting is refused long before either shows.
pub const MAX_NESTING: usize = 32;

/// Most YAML nodes a config may hold, counting each alias as the nodes it repeats (so an
/// anchor repeated into a "billion laughs" is refused before anything expands it).
pub const MAX_NODES: usize = 200_000;

// --- Durations ---

/// Longest duration (`max_age`, rollout `timeout`): 3650 days, about 10 years. Keeps every
/// "date plus duration" far inside the calendar the `time` crate represents; a credential
/// rotated less often than every ten years is not rotated at all.
pub const MAX_DURATION: time::Duration = time::Duration::days(3650);

/// Most digits in a duration's number; anything longer is over [`MAX_DURATION`] anyway.
pub const MAX_DURATION_DIGITS: usize = 12;

// --- Counts ---

/// Most credentials in one config. Each is read, planned and scheduled on its own; a
/// repository with more should be split.
pub const MAX_CREDENTIALS: usize = 1_000;

/// Most slots (value prefixes) of one credential. Slots are compared pairwise for
/// overlapping prefixes.
pub const MAX_SLOTS: usize = 32;

/// Most locations of one credential. Every location is read (and decrypted) on every plan.
pub const MAX_LOCATIONS: usize = 256;

/// Most rollout steps (waves and gates together) of one credential.
pub const MAX_ROLLOUT_STEPS: usize = 32;

/// Most check runs one wave waits for.
pub const MAX_CHECKS_PER_WAVE: usize = 64;

/// Most people or teams in one list: `reviewers`, `approvals.from`, a gate's `confirm`.
/// GitHub requests at most a few dozen reviewers on a pull request.
pub const MAX_PEOPLE: usize = 32;

/// Most labels put on a pull request.
pub const MAX_LABELS: usize = 32;

/// Most approving reviews a pull request may be made to need.
pub const MAX_APPROVALS_REQUIRED: u32 = 10;

/// Most steps in a location's `path` inside a SOPS file (SOPS files nest far less).
pub const MAX_PATH_STEPS: usize = 32;

/// Largest list index in a location's `path`.
pub const MAX_PATH_INDEX: usize = 10_000;

/// Most per-slot names of a manual generator (one per slot, so also [`MAX_SLOTS`]).
pub const MAX_MANUAL_NAMES: usize = MAX_SLOTS;

// --- Lengths (bytes of UTF-8) ---

/// Fewest characters a random generator may draw: guessing stays out of reach.
pub const MIN_RANDOM_LENGTH: usize = 16;

/// Most characters a random generator may draw: the value is allocated, encrypted and
/// written to files on every rotation.
pub const MAX_RANDOM_LENGTH: usize = 1_024;

/// Longest credential, slot, wave or gate name. Credential names become branch names.
pub const MAX_NAME_BYTES: usize = 64;

/// Longest slot prefix.
pub const MAX_PREFIX_BYTES: usize = 64;

/// Longest short text: owner, reviewer, label, check name, `confirm` entry, dated template,
/// manual name, file path.
pub const MAX_SHORT_TEXT_BYTES: usize = 256;

/// Longest free text: `description`, generator and gate `instructions`.
pub const MAX_LONG_TEXT_BYTES: usize = 4_096;

/// Longest `pattern` (regular expression). The regex crate matches in linear time and caps
/// the compiled size; this keeps compiling it cheap too.
pub const MAX_PATTERN_BYTES: usize = 1_024;

/// Largest compiled form of a `pattern`, in bytes (the regex crate's own default is 10 MiB).
/// A short pattern can still compile to megabytes (`\w{1000}` is Unicode-wide); a real one
/// needs a few kilobytes.
pub const MAX_PATTERN_COMPILED_BYTES: usize = 1 << 20;

/// Longest date format (`%Y-%m-%d`).
pub const MAX_DATE_FORMAT_BYTES: usize = 64;

/// Longest separator of a delimited location.
pub const MAX_SEPARATOR_BYTES: usize = 16;

/// Longest key in a location's `path`.
pub const MAX_PATH_KEY_BYTES: usize = 256;

// --- What a location holds (checked when a change set is built, not by validate) ---

/// Most values one location may hold (an accept list). Accept lists hold a handful; every
/// value is compared with every other when a phase is computed.
pub const MAX_VALUES_PER_LOCATION: usize = 256;
