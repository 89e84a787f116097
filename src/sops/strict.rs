//! Structural rules every parsed document must meet before anything reads values from it,
//! and the size limits that keep hostile input cheap to refuse.
//!
//! Duplicate keys are refused everywhere (data and metadata, every nesting level, every
//! document): readers disagree on which of two equal keys counts (Go's JSON decoder keeps
//! the last, keyroll's lookups found the first), so a file with one is a file whose checked
//! content and used content can differ. sops itself refuses them at the top level of a
//! YAML file and in its metadata; keyroll is stricter.

use std::collections::HashMap;

use super::error::SyntaxError;
use super::tree::{Document, MapNode, Node};

/// The largest file keyroll reads. sops's own 10,000-value benchmark file is 1.8 MB.
pub const MAX_FILE_BYTES: usize = 16 * 1024 * 1024;

/// The deepest nesting of maps and lists keyroll reads (sops files nest a few levels).
pub const MAX_DEPTH: usize = 200;

/// The most keys plus list items a file may hold, all documents and metadata together.
pub const MAX_NODES: usize = 1_000_000;

/// The most documents a YAML file may hold.
pub const MAX_DOCUMENTS: usize = 10_000;

/// Refuses a text over [`MAX_FILE_BYTES`] before it is parsed.
pub fn check_size(text: &str) -> Result<(), SyntaxError> {
    if text.len() > MAX_FILE_BYTES {
        return Err(SyntaxError {
            line: 1,
            column: 1,
            message: format!(
                "the file is {} bytes, over keyroll's limit of {MAX_FILE_BYTES} bytes (16 MiB)",
                text.len()
            ),
        });
    }
    Ok(())
}

/// Checks parsed documents: no duplicate keys, at most [`MAX_NODES`] keys and items and
/// [`MAX_DOCUMENTS`] documents.
pub fn check_documents(text: &str, docs: &[Document]) -> Result<(), SyntaxError> {
    if docs.len() > MAX_DOCUMENTS {
        return Err(SyntaxError::at(
            text,
            0,
            format!(
                "the file holds {} documents, over keyroll's limit of {MAX_DOCUMENTS}",
                docs.len()
            ),
        ));
    }
    let mut budget = MAX_NODES;
    for doc in docs {
        check_map(text, &doc.root, &mut budget)?;
        if let Some(sops) = &doc.sops {
            check_node(text, &sops.value, &mut budget)?;
        }
    }
    Ok(())
}

fn spend(text: &str, at: usize, budget: &mut usize, n: usize) -> Result<(), SyntaxError> {
    *budget = budget.checked_sub(n).ok_or_else(|| {
        SyntaxError::at(
            text,
            at,
            format!("the file holds more than {MAX_NODES} keys and list items, keyroll's limit"),
        )
    })?;
    Ok(())
}

// Recursion is bounded by the parsers' depth limit.
fn check_node(text: &str, node: &Node, budget: &mut usize) -> Result<(), SyntaxError> {
    match node {
        Node::Scalar(_) => Ok(()),
        Node::Map(m) => check_map(text, m, budget),
        Node::List(l) => {
            spend(text, l.span.start, budget, l.items.len())?;
            l.items
                .iter()
                .try_for_each(|i| check_node(text, &i.node, budget))
        }
    }
}

fn check_map(text: &str, map: &MapNode, budget: &mut usize) -> Result<(), SyntaxError> {
    spend(text, map.span.start, budget, map.entries.len())?;
    let mut seen: HashMap<&str, usize> = HashMap::with_capacity(map.entries.len());
    for e in &map.entries {
        if let Some(first) = seen.insert(&e.key, e.key_span.start) {
            let first_line = super::format::line_col(text, first).0;
            return Err(SyntaxError::at(
                text,
                e.key_span.start,
                format!(
                    "duplicate key `{}` (first at line {first_line}): readers disagree on \
                     which one counts, so keyroll refuses the file",
                    e.key
                ),
            ));
        }
        check_node(text, &e.value, budget)?;
    }
    Ok(())
}

/// Whether two nodes hold the same keys and scalar texts in the same shape (spans and
/// layout aside): sops writes the same metadata block into every document of a file.
pub fn same_content(a: &Node, b: &Node) -> bool {
    match (a, b) {
        (Node::Scalar(x), Node::Scalar(y)) => x.text == y.text && x.style == y.style,
        (Node::Map(x), Node::Map(y)) => {
            x.entries.len() == y.entries.len()
                && x.entries
                    .iter()
                    .zip(&y.entries)
                    .all(|(p, q)| p.key == q.key && same_content(&p.value, &q.value))
        }
        (Node::List(x), Node::List(y)) => {
            x.items.len() == y.items.len()
                && x.items
                    .iter()
                    .zip(&y.items)
                    .all(|(p, q)| same_content(&p.node, &q.node))
        }
        _ => false,
    }
}
