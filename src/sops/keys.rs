//! age identities and the file's data key: finding the identities the way sops does,
//! opening the data key (whole, or from Shamir shares across key groups), and encrypting it
//! to recipients.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use age::armor::ArmoredReader;
use zeroize::Zeroizing;

use super::error::SopsError;
use super::metadata::{AgeStanza, KeyGroup, Metadata};
use super::secret::DataKey;
use super::shamir;

/// The age identities keyroll may decrypt with. Their secret halves never leave the `age`
/// types, which wipe them on drop and do not print them.
pub struct Identities {
    keys: Vec<age::x25519::Identity>,
    /// Where the identities came from, for "no usable key" messages.
    sources: Vec<String>,
}

impl std::fmt::Debug for Identities {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Identities")
            .field("recipients", &self.recipients())
            .field("sources", &self.sources)
            .finish()
    }
}

impl Identities {
    /// Reads identities from `path` (an `age-keygen` file).
    pub fn from_file(path: &Path) -> Result<Self, SopsError> {
        let text = read_secret_file(path).map_err(|e| {
            SopsError::Identity(format!("cannot read identity file {}: {e}", path.display()))
        })?;
        let mut ids = Self {
            keys: Vec::new(),
            sources: Vec::new(),
        };
        ids.add_text(&text, &path.display().to_string())?;
        Ok(ids)
    }

    /// Looks identities up as sops does: `SOPS_AGE_KEY` (inline), `SOPS_AGE_KEY_FILE`, and
    /// the default `<config dir>/sops/age/keys.txt`, all merged. `explicit` (a command-line
    /// file) comes first when given.
    pub fn discover(explicit: Option<&Path>) -> Result<Self, SopsError> {
        let mut ids = match explicit {
            Some(p) => Self::from_file(p)?,
            None => Self {
                keys: Vec::new(),
                sources: Vec::new(),
            },
        };
        if let Ok(inline) = std::env::var("SOPS_AGE_KEY") {
            let inline = Zeroizing::new(inline);
            ids.add_text(&inline, "SOPS_AGE_KEY")?;
        }
        if let Some(file) = std::env::var_os("SOPS_AGE_KEY_FILE") {
            let more = Self::from_file(Path::new(&file))?;
            ids.merge(more);
        }
        if let Some(default) = default_keys_file()
            && default.is_file()
        {
            ids.merge(Self::from_file(&default)?);
        }
        Ok(ids)
    }

    /// Parses identity text: one identity a line, blank and `#` lines ignored.
    pub fn from_text(text: &str, source: &str) -> Result<Self, SopsError> {
        let mut ids = Self {
            keys: Vec::new(),
            sources: Vec::new(),
        };
        ids.add_text(text, source)?;
        Ok(ids)
    }

    /// Adds the X25519 identities of `text`. Lines of identity kinds sops knows but keyroll
    /// cannot use (post-quantum `AGE-SECRET-KEY-PQ-1…`, plugin `AGE-PLUGIN-…`) are skipped
    /// with one warning naming their lines, as sops uses the keys it can; a source with
    /// nothing usable, or a line of no known kind, is an error (sops refuses those too).
    fn add_text(&mut self, text: &str, source: &str) -> Result<(), SopsError> {
        let mut skipped: Vec<usize> = Vec::new();
        let mut usable = 0usize;
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let number = n + 1;
            if line.starts_with("AGE-SECRET-KEY-1") {
                let key = age::x25519::Identity::from_str(line).map_err(|_| {
                    SopsError::Identity(format!(
                        "{source}, line {number}: not a valid age identity"
                    ))
                })?;
                self.keys.push(key);
                usable += 1;
            } else if line.starts_with("AGE-SECRET-KEY-PQ-1") || line.starts_with("AGE-PLUGIN-") {
                skipped.push(number);
            } else {
                // Only whole dash-ended words of capitals (`AGE-SECRET-KEY-`): a trailing
                // partial word may be the start of a mistyped key, so it is never shown.
                let head: String = line
                    .chars()
                    .take_while(|c| c.is_ascii_uppercase() || *c == '-')
                    .take(24)
                    .collect();
                let kind = head
                    .rfind('-')
                    .and_then(|end| head.get(..=end))
                    .unwrap_or("");
                return Err(SopsError::Identity(format!(
                    "{source}, line {number}: unknown identity type {kind:?}… (keyroll reads X25519 AGE-SECRET-KEY-1 identities)"
                )));
            }
        }
        if !skipped.is_empty() {
            let lines = skipped
                .iter()
                .map(usize::to_string)
                .collect::<Vec<_>>()
                .join(", ");
            if usable == 0 {
                return Err(SopsError::Identity(format!(
                    "{source} holds no identity keyroll can use: lines {lines} are post-quantum \
                     or plugin identities, and keyroll reads X25519 AGE-SECRET-KEY-1 ones"
                )));
            }
            tracing::warn!(
                source,
                lines = %lines,
                "skipping age identities keyroll cannot use (post-quantum or plugin); \
                 using the X25519 ones"
            );
        }
        self.sources.push(source.to_owned());
        Ok(())
    }

    fn merge(&mut self, other: Self) {
        self.keys.extend(other.keys);
        self.sources.extend(other.sources);
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The public recipients of these identities.
    pub fn recipients(&self) -> Vec<String> {
        self.keys
            .iter()
            .map(|k| k.to_public().to_string())
            .collect()
    }

    fn describe(&self) -> String {
        if self.sources.is_empty() {
            "no age identity was found (set SOPS_AGE_KEY_FILE or SOPS_AGE_KEY, or pass --identity)"
                .into()
        } else {
            format!("identities from {}", self.sources.join(", "))
        }
    }

    /// Opens one armored stanza, trying the identity whose recipient matches first.
    fn open_stanza(&self, stanza: &AgeStanza) -> Option<Zeroizing<Vec<u8>>> {
        let matching: Vec<&age::x25519::Identity> = self
            .keys
            .iter()
            .filter(|k| k.to_public().to_string() == stanza.recipient.trim())
            .collect();
        let candidates: Vec<&age::x25519::Identity> = if matching.is_empty() {
            self.keys.iter().collect()
        } else {
            matching
        };
        let decryptor =
            age::Decryptor::new_buffered(ArmoredReader::new(stanza.enc.as_bytes())).ok()?;
        let mut reader = decryptor
            .decrypt(candidates.into_iter().map(|k| k as &dyn age::Identity))
            .ok()?;
        let mut out = Zeroizing::new(Vec::with_capacity(33));
        reader.read_to_end(&mut out).ok()?;
        Some(out)
    }

    /// Recovers the data key from the metadata: from any stanza of a single group, or from
    /// shares of `shamir_threshold` groups.
    pub fn data_key(&self, meta: &Metadata) -> Result<DataKey, SopsError> {
        let opened: Vec<Zeroizing<Vec<u8>>> = meta
            .groups
            .iter()
            .filter_map(|g| g.age.iter().find_map(|s| self.open_stanza(s)))
            .collect();
        let needed = if meta.groups.len() > 1 {
            meta.shamir_threshold.unwrap_or(meta.groups.len())
        } else {
            1
        };
        if opened.len() < needed || opened.is_empty() {
            return Err(SopsError::NoUsableKey(self.no_key_message(
                meta,
                opened.len(),
                needed,
            )));
        }
        let key: Zeroizing<Vec<u8>> = if meta.groups.len() > 1 {
            let shares: Vec<&[u8]> = opened.iter().map(|s| s.as_slice()).collect();
            shamir::combine(&shares).map_err(|e| {
                SopsError::NoUsableKey(format!("cannot combine key group shares: {e}"))
            })?
        } else {
            opened.into_iter().next().unwrap_or_default()
        };
        let bytes: [u8; 32] = key.as_slice().try_into().map_err(|_| {
            SopsError::NoUsableKey(format!("the data key is {} bytes, not 32", key.len()))
        })?;
        Ok(DataKey::from_bytes(bytes))
    }

    fn no_key_message(&self, meta: &Metadata, opened: usize, needed: usize) -> String {
        let recipients = meta.age_recipients();
        let others: Vec<&str> = meta
            .groups
            .iter()
            .flat_map(|g| g.other_kinds.iter().map(String::as_str))
            .collect();
        let mut msg = if recipients.is_empty() {
            "the file has no age recipients".to_owned()
        } else if self.keys.is_empty() {
            format!(
                "{}; the file is encrypted to {}",
                self.describe(),
                recipients.join(", ")
            )
        } else {
            format!(
                "none of the file's age recipients ({}) matches the {}",
                recipients.join(", "),
                self.describe()
            )
        };
        if needed > 1 {
            msg = format!("opened {opened} of the {needed} key groups needed; {msg}");
        }
        if !others.is_empty() {
            msg.push_str(&format!(
                "; keys of kind {} are kept but keyroll cannot use them",
                others.join(", ")
            ));
        }
        msg
    }
}

/// Reads a file holding secrets into one buffer sized up front, so that no grown-and-freed
/// copy of it is left in memory, and wipes it on drop.
fn read_secret_file(path: &Path) -> std::io::Result<Zeroizing<String>> {
    let mut file = std::fs::File::open(path)?;
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    let mut text = Zeroizing::new(String::with_capacity(usize::try_from(len).unwrap_or(0) + 1));
    file.read_to_string(&mut text)?;
    Ok(text)
}

/// `<user config dir>/sops/age/keys.txt`, as sops looks it up on Linux and macOS.
fn default_keys_file() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("XDG_CONFIG_HOME").filter(|d| !d.is_empty()) {
        return Some(PathBuf::from(dir).join("sops/age/keys.txt"));
    }
    let home = std::env::var_os("HOME")?;
    let home = PathBuf::from(home);
    if cfg!(target_os = "macos") {
        Some(home.join("Library/Application Support/sops/age/keys.txt"))
    } else {
        Some(home.join(".config/sops/age/keys.txt"))
    }
}

/// Parses an age recipient string (`age1…`).
pub fn parse_recipient(text: &str) -> Result<age::x25519::Recipient, SopsError> {
    age::x25519::Recipient::from_str(text.trim()).map_err(|e| {
        SopsError::Encrypt(format!(
            "{:?} is not an age X25519 recipient: {e}",
            text.trim()
        ))
    })
}

/// Encrypts the data key (or a share of it) to each recipient of each group, one armored age
/// file per recipient, as sops does.
pub fn seal(
    key: &DataKey,
    groups: &[Vec<String>],
    threshold: Option<usize>,
) -> Result<Vec<KeyGroup>, SopsError> {
    let shares: Vec<Zeroizing<Vec<u8>>> = if groups.len() > 1 {
        let t = threshold.unwrap_or(groups.len());
        shamir::split(key.expose(), groups.len(), t)
            .map_err(|e| SopsError::Encrypt(e.to_string()))?
    } else {
        vec![Zeroizing::new(key.expose().to_vec())]
    };
    groups
        .iter()
        .zip(shares.iter())
        .map(|(recipients, share)| {
            let age = recipients
                .iter()
                .map(|r| {
                    let recipient = parse_recipient(r)?;
                    let enc = age::encrypt_and_armor(&recipient, share).map_err(|e| {
                        SopsError::Encrypt(format!("age encryption to {r} failed: {e}"))
                    })?;
                    Ok(AgeStanza {
                        recipient: r.trim().to_owned(),
                        enc,
                    })
                })
                .collect::<Result<Vec<_>, SopsError>>()?;
            Ok(KeyGroup {
                age,
                other_kinds: Vec::new(),
            })
        })
        .collect()
}
