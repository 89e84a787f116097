//! The credentials repository's `.keyroll.yaml`: parsing (strict, with every problem placed at
//! file:line:column and field path), presets, and the resolved model the rest of keyroll uses.

mod bounds;
pub mod duration;
pub mod limits;
mod locate;
pub mod model;
pub mod presets;
mod resolve;
mod shape;
pub mod validate;

use std::fmt;

pub use duration::Span;
pub use locate::FieldPath;
pub use model::{Alphabet, ConfigFile, GeneratorSpec, InsertAt, Role, SwitchMode, ValueFormat};
pub use resolve::{Approvals, Config, Credential, Location, Roles, Slot, Step, Target};

/// The config file's name at the repository root.
pub const CONFIG_FILE: &str = ".keyroll.yaml";

/// One problem with a config, placed where a person can find it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub file: String,
    pub line: usize,
    pub column: usize,
    /// The field, as `credentials.data-api-tokens.locations[2].file`.
    pub field: String,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}: ", self.file, self.line, self.column)?;
        if !self.field.is_empty() {
            write!(f, "{}: ", self.field)?;
        }
        f.write_str(&self.message)
    }
}

/// Every problem found in a config, in file order.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct Problems(pub Vec<Problem>);

impl fmt::Display for Problems {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{p}")?;
        }
        Ok(())
    }
}

/// Parses and resolves a config text. `file` names it in problems.
///
/// Synchronous and bounded: a text over [`limits::MAX_CONFIG_BYTES`], nested deeper than
/// [`limits::MAX_NESTING`], holding more than [`limits::MAX_NODES`] nodes or writing a key
/// twice in one mapping is refused by a single linear pass before anything else reads it,
/// so the whole call takes time linear in at most a megabyte; every other limit in
/// [`limits`] is then checked naming its field. No I/O: a server can run it on a blocking
/// thread under a timeout.
pub fn parse(file: &str, text: &str) -> Result<Config, Problems> {
    shape::check(file, text).map_err(|p| Problems(vec![p]))?;
    let locator = locate::Locator::new(file, text);
    let raw: ConfigFile = {
        let de = serde_norway::Deserializer::from_str(text);
        serde_path_to_error::deserialize(de).map_err(|e| {
            let inner = e.inner();
            // serde_norway appends "at line L column C"; the position is given up front.
            let full = inner.to_string();
            let message = full.split(" at line ").next().unwrap_or(&full);
            // serde_path_to_error writes `?` for a map key it cannot read as text (the verbs
            // of `roles:`): serde_norway's own path names the entry when it has one, else
            // the field is the mapping.
            let mut field = e.path().to_string();
            if let Some(map) = field.strip_suffix(".?") {
                field = match message.split_once(": ") {
                    Some((head, _)) if head.starts_with(map) => head.to_owned(),
                    _ => map.to_owned(),
                };
            }
            // serde_norway places some refused values at the start of their enclosing
            // mapping, lines above; those are placed at the field itself.
            let path = FieldPath::parse(&field);
            let exact = locator.exact(&path).filter(|_| !path.0.is_empty());
            let (line, column) = match (inner.location().map(|l| (l.line(), l.column())), exact) {
                (Some(by_serde), Some(field_at)) if by_serde.0 < field_at.0 => field_at,
                (Some(by_serde), _) => by_serde,
                (None, _) => locator.position(&path),
            };
            // serde_norway names the field itself; it is given up front.
            let message = match message.split_once(": ") {
                Some((head, rest)) if field.starts_with(head) => rest.to_owned(),
                _ => message.to_owned(),
            };
            Problems(vec![Problem {
                file: file.to_owned(),
                line,
                column,
                field: if field == "." { String::new() } else { field },
                message,
            }])
        })?
    };
    resolve::resolve(raw, &locator)
}

/// The JSON Schema of `.keyroll.yaml`, as published at `policies/schema.json`.
pub fn json_schema() -> String {
    let schema = schemars::schema_for!(ConfigFile);
    let mut text = serde_json::to_string_pretty(&schema).unwrap_or_default();
    text.push('\n');
    text
}
