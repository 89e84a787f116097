//! The config text's size and shape, checked before any YAML deserializer sees it.
//!
//! YAML readers take time quadratic in flow nesting (each token rechecks every open level)
//! and recurse once per level; an alias repeats its anchor's nodes every time it is used. One
//! linear pass over saphyr's events, stopped at the first limit crossed, bounds all three:
//! whatever passes here is at most [`MAX_CONFIG_BYTES`] long, nests at most [`MAX_NESTING`]
//! deep, and expands to at most [`MAX_NODES`] nodes, so what follows takes linear time.

use std::collections::HashMap;

use saphyr_parser::{Event, Parser};

use super::Problem;
use super::limits::{MAX_CONFIG_BYTES, MAX_NESTING, MAX_NODES};
use crate::sops::format::line_col;

/// Refuses a config text over the size, nesting or node limits (or one saphyr cannot read),
/// with the line where it happens.
pub(super) fn check(file: &str, text: &str) -> Result<(), Problem> {
    let problem = |line: usize, column: usize, message: String| Problem {
        file: file.to_owned(),
        line,
        column,
        field: String::new(),
        message,
    };
    if text.len() > MAX_CONFIG_BYTES {
        let (line, column) = line_col(text, floor_char_boundary(text, MAX_CONFIG_BYTES));
        return Err(problem(
            line,
            column,
            format!(
                "the file is {} bytes; keyroll reads configs of at most {MAX_CONFIG_BYTES} bytes (1 MiB)",
                text.len()
            ),
        ));
    }
    let mut depth = 0usize;
    let mut nodes = 0usize;
    // Open collections: their anchor (0 for none) and the node count when they began.
    let mut open: Vec<(usize, usize)> = Vec::new();
    // Each anchor's node count, aliases inside it expanded.
    let mut anchored: HashMap<usize, usize> = HashMap::new();
    for next in Parser::new_from_str(text) {
        let (event, span) = match next {
            Ok(e) => e,
            Err(e) => {
                // saphyr reads flow collections ahead of its events and stops at its own
                // nesting limit, deeper than ours: that is still nesting past ours.
                let message = if e.info().contains("recursion limit") {
                    too_deep()
                } else {
                    format!("not valid YAML: {}", e.info())
                };
                return Err(problem(e.marker().line(), e.marker().col() + 1, message));
            }
        };
        let at = (span.start.line(), span.start.col() + 1);
        match event {
            Event::MappingStart(anchor, _) | Event::SequenceStart(anchor, _) => {
                depth += 1;
                if depth > MAX_NESTING {
                    return Err(problem(at.0, at.1, too_deep()));
                }
                nodes = nodes.saturating_add(1);
                open.push((anchor, nodes));
            }
            Event::MappingEnd | Event::SequenceEnd => {
                depth = depth.saturating_sub(1);
                if let Some((anchor, start)) = open.pop()
                    && anchor != 0
                {
                    anchored.insert(anchor, nodes.saturating_sub(start).saturating_add(1));
                }
            }
            Event::Scalar(_, _, anchor, _) => {
                nodes = nodes.saturating_add(1);
                if anchor != 0 {
                    anchored.insert(anchor, 1);
                }
            }
            Event::Alias(anchor) => {
                nodes = nodes.saturating_add(anchored.get(&anchor).copied().unwrap_or(1));
            }
            Event::Nothing
            | Event::StreamStart
            | Event::StreamEnd
            | Event::DocumentStart(_)
            | Event::DocumentEnd => {}
        }
        if nodes > MAX_NODES {
            return Err(problem(
                at.0,
                at.1,
                format!(
                    "the file holds more than {MAX_NODES} YAML nodes (an alias counts as the nodes it repeats), the most keyroll reads"
                ),
            ));
        }
    }
    Ok(())
}

fn too_deep() -> String {
    format!("nesting is deeper than {MAX_NESTING} levels, the most keyroll reads")
}

/// The largest char boundary at or below `at`.
fn floor_char_boundary(text: &str, at: usize) -> usize {
    (0..=at.min(text.len()))
        .rev()
        .find(|&i| text.is_char_boundary(i))
        .unwrap_or(0)
}
