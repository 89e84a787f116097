//! The config text's size and shape, checked before any YAML deserializer sees it.
//!
//! YAML readers take time quadratic in flow nesting (each token rechecks every open level)
//! and recurse once per level; an alias repeats its anchor's nodes every time it is used. One
//! linear pass over saphyr's events, stopped at the first limit crossed, bounds all three:
//! whatever passes here is at most [`MAX_CONFIG_BYTES`] long, nests at most [`MAX_NESTING`]
//! deep, and expands to at most [`MAX_NODES`] nodes, so what follows takes linear time.
//!
//! The same pass refuses a key written twice in one mapping: for the `credentials` map the
//! deserializer would keep the last one silently, and the first credential would vanish.

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
    let mut nodes = 0usize;
    let mut open: Vec<Frame> = Vec::new();
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
        // Every node is a key or a value of the mapping it sits in, alternately.
        if matches!(
            event,
            Event::Scalar(..)
                | Event::Alias(_)
                | Event::MappingStart(..)
                | Event::SequenceStart(..)
        ) && let Some(Frame {
            keys: Some(keys),
            expect_key,
            ..
        }) = open.last_mut()
        {
            if *expect_key
                && let Event::Scalar(key, ..) = &event
                && let Some(first) = keys.insert(key.to_string(), at.0)
            {
                return Err(problem(
                    at.0,
                    at.1,
                    format!(
                        "`{key}` is written twice in this mapping (first on line {first}); keep one"
                    ),
                ));
            }
            *expect_key = !*expect_key;
        }
        match event {
            Event::MappingStart(anchor, _) | Event::SequenceStart(anchor, _) => {
                if open.len() >= MAX_NESTING {
                    return Err(problem(at.0, at.1, too_deep()));
                }
                nodes = nodes.saturating_add(1);
                let mapping = matches!(event, Event::MappingStart(..));
                open.push(Frame {
                    anchor,
                    nodes_before: nodes,
                    keys: mapping.then(HashMap::new),
                    expect_key: true,
                });
            }
            Event::MappingEnd | Event::SequenceEnd => {
                if let Some(f) = open.pop()
                    && f.anchor != 0
                {
                    anchored.insert(
                        f.anchor,
                        nodes.saturating_sub(f.nodes_before).saturating_add(1),
                    );
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

/// An open mapping or sequence.
struct Frame {
    /// Its anchor, 0 for none.
    anchor: usize,
    /// The node count when it began, itself included.
    nodes_before: usize,
    /// For a mapping, the keys written so far and their lines.
    keys: Option<HashMap<String, usize>>,
    /// For a mapping, whether the next node is a key.
    expect_key: bool,
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
