//! The three stores SOPS knows for structured files, chosen by file extension as `sops`
//! chooses them.

pub mod dotenv;
pub mod json;
pub mod yaml;
mod yaml_fast;

use std::path::Path;

use super::error::SyntaxError;
use super::tree::Document;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Yaml,
    Json,
    Dotenv,
}

impl Format {
    /// The store for a file name; `None` for extensions sops would treat as binary, which
    /// keyroll does not edit.
    pub fn from_path(path: &Path) -> Option<Self> {
        match path.extension().and_then(|e| e.to_str()) {
            Some("yaml" | "yml") => Some(Format::Yaml),
            Some("json") => Some(Format::Json),
            Some("env") => Some(Format::Dotenv),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Format::Yaml => "YAML",
            Format::Json => "JSON",
            Format::Dotenv => "dotenv",
        }
    }

    /// Parses a document text and checks it against keyroll's structural rules (no
    /// duplicate keys, the size limits of [`super::strict`]).
    pub fn parse(self, text: &str) -> Result<Vec<Document>, SyntaxError> {
        super::strict::check_size(text)?;
        let docs = match self {
            Format::Yaml => yaml::parse(text)?,
            Format::Json => vec![json::parse(text)?],
            Format::Dotenv => vec![dotenv::parse(text)?],
        };
        super::strict::check_documents(text, &docs)?;
        Ok(docs)
    }
}

/// Line (1-based) and column (1-based, in characters) of a byte offset.
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = text.get(..offset.min(text.len())).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

/// The column (0-based, in characters) of a byte offset.
pub fn char_column(text: &str, offset: usize) -> usize {
    text.get(line_start(text, offset)..offset)
        .map_or(0, |t| t.chars().count())
}

/// The start of the line holding `offset`.
pub fn line_start(text: &str, offset: usize) -> usize {
    text.get(..offset)
        .and_then(|t| t.rfind('\n'))
        .map_or(0, |i| i + 1)
}

/// The offset of the newline ending the line that holds `offset` (or the text's end).
pub fn line_end(text: &str, offset: usize) -> usize {
    text.get(offset..)
        .and_then(|t| t.find('\n'))
        .map_or(text.len(), |i| offset + i)
}

/// Whether only spaces stand between the start of the line and `offset`.
pub fn only_indent_before(text: &str, offset: usize) -> bool {
    text.get(line_start(text, offset)..offset)
        .is_some_and(|p| p.bytes().all(|b| b == b' ' || b == b'\t'))
}
