//! Finds every place a value is used across a repository's SOPS files: the runbooks' "find
//! where the key is used" step, without a `sops -d | grep` loop. Files are decrypted in
//! parallel, one worker per core. The fingerprint key file is never searched: its value is
//! not a credential's, and no search may confirm a guess of it.

use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::fingerprint::{self, Fingerprint, FingerprintKey};
use crate::repo::Files;
use crate::sops::{Format, Identities, PlainValue, SopsFile};

/// What to look for.
#[derive(Debug)]
pub enum Needle {
    /// Any of these values, also inside a longer value (a delimited list, a URL).
    Values(Vec<PlainValue>),
    /// A value whose fingerprint under the repository's key starts with `prefix` (a whole
    /// value, or one part of a value split at `,`, `:`, `;` or a space).
    Fingerprint { prefix: String, key: FingerprintKey },
}

/// One place a value was found.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
pub struct Hit {
    pub file: String,
    pub path: String,
}

/// A file that could not be searched (not opened with keyroll's identity, tampered…).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
pub struct Skipped {
    pub file: String,
    pub reason: String,
}

#[derive(Debug, Default, serde::Serialize)]
pub struct Found {
    pub hits: Vec<Hit>,
    pub skipped: Vec<Skipped>,
    pub searched: usize,
}

/// Searches every SOPS file of `files`.
pub fn search(files: &dyn Files, ids: &Identities, needle: &Needle) -> Found {
    let candidates: Vec<String> = files
        .list()
        .into_iter()
        .filter(|p| Format::from_path(Path::new(p)).is_some() && !fingerprint::is_key_file(p))
        .collect();
    let next = AtomicUsize::new(0);
    let found = Mutex::new(Found::default());
    let workers = std::thread::available_parallelism()
        .map_or(2, |n| n.get())
        .min(candidates.len().max(1));
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| {
                let mut local = Found::default();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(path) = candidates.get(i) else { break };
                    search_file(files, ids, needle, path, &mut local);
                }
                if let Ok(mut all) = found.lock() {
                    all.hits.extend(local.hits);
                    all.skipped.extend(local.skipped);
                    all.searched += local.searched;
                }
            });
        }
    });
    let mut found = found.into_inner().unwrap_or_default();
    found.hits.sort();
    found.skipped.sort();
    found
}

fn search_file(files: &dyn Files, ids: &Identities, needle: &Needle, path: &str, out: &mut Found) {
    let Some(format) = Format::from_path(Path::new(path)) else {
        return;
    };
    let Some(bytes) = files.read(path) else {
        return;
    };
    let Ok(text) = String::from_utf8(bytes) else {
        return;
    };
    // Cheap test before parsing: every SOPS file names its MAC.
    if !text.contains("mac") || !text.contains("ENC[AES256_GCM") {
        return;
    }
    let file = match SopsFile::parse(text, format) {
        Ok(f) => f,
        Err(crate::sops::SopsError::NotEncrypted) => return,
        Err(e) => {
            out.skipped.push(Skipped {
                file: path.to_owned(),
                reason: e.to_string(),
            });
            return;
        }
    };
    let opened = match file.open(ids) {
        Ok(o) => o,
        Err(e) => {
            out.skipped.push(Skipped {
                file: path.to_owned(),
                reason: e.to_string(),
            });
            return;
        }
    };
    out.searched += 1;
    for (key_path, value) in opened.values_with_paths() {
        if matches(needle, value) {
            out.hits.push(Hit {
                file: path.to_owned(),
                path: key_path,
            });
        }
    }
}

fn matches(needle: &Needle, value: &PlainValue) -> bool {
    match needle {
        Needle::Values(wanted) => wanted
            .iter()
            .any(|w| !w.is_empty() && contains(value.expose(), w.expose())),
        Needle::Fingerprint { prefix, key } => {
            Fingerprint::of(value, key).matches(prefix)
                || value
                    .expose()
                    .split(|b| matches!(b, b',' | b':' | b';' | b' '))
                    .any(|part| {
                        !part.is_empty() && Fingerprint::of_bytes(part, key).matches(prefix)
                    })
        }
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}
