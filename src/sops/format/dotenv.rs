//! Reads dotenv files as sops does: `KEY=value` lines, `#` comments, `\n` for newlines in
//! values, and the metadata flattened into `sops_*` keys (`sops_age__list_0__map_enc`).

use crate::sops::error::SyntaxError;
use crate::sops::tree::{
    Comment, Document, Entry, Item, ListNode, MapNode, Node, ScalarNode, SopsEntry, Style,
};

/// sops's deepest flattened metadata key is `sops_key_groups__list_N__map_age__list_M__map_enc`
/// (five parts); more than this is refused rather than recursed into.
const MAX_META_PARTS: usize = 16;

pub fn parse(src: &str) -> Result<Document, SyntaxError> {
    let mut entries = Vec::new();
    let mut comments = Vec::new();
    let mut metadata: Vec<(String, ScalarNode)> = Vec::new();
    let mut removal = Vec::new();
    let mut first_meta = None;
    let mut meta_keys = std::collections::HashSet::new();
    let mut offset = 0;
    for line in src.split_inclusive('\n') {
        let start = offset;
        offset += line.len();
        let body = line.strip_suffix('\n').unwrap_or(line);
        if body.is_empty() {
            continue;
        }
        if let Some(text) = body.strip_prefix('#') {
            comments.push(Comment {
                text: text.to_owned(),
                span: start..start + body.len(),
            });
            continue;
        }
        let Some(eq) = body.find('=') else {
            return Err(SyntaxError::at(
                src,
                start,
                "a dotenv line needs `KEY=value`",
            ));
        };
        let key = body.get(..eq).unwrap_or("");
        let raw = body.get(eq + 1..).unwrap_or("");
        let value = ScalarNode {
            text: raw.replace("\\n", "\n"),
            style: Style::Dotenv,
            span: start + eq + 1..start + body.len(),
            in_flow: false,
        };
        if let Some(meta_key) = key.strip_prefix("sops_") {
            if !meta_keys.insert(meta_key) {
                return Err(SyntaxError::at(
                    src,
                    start,
                    format!("duplicate metadata key `{key}`: each appears once"),
                ));
            }
            if meta_key.split("__").count() > MAX_META_PARTS {
                return Err(SyntaxError::at(
                    src,
                    start,
                    format!("metadata key `{key}` nests deeper than sops writes"),
                ));
            }
            first_meta.get_or_insert(start);
            removal.push(start..offset);
            metadata.push((meta_key.to_owned(), value));
        } else {
            entries.push(Entry {
                key: key.to_owned(),
                key_span: start..start + eq,
                value: Node::Scalar(value),
            });
        }
    }
    let sops = if metadata.is_empty() {
        None
    } else {
        Some(SopsEntry {
            value: Node::Map(unflatten(metadata)),
            removal,
        })
    };
    Ok(Document {
        root: MapNode {
            entries,
            span: 0..src.len(),
            flow: false,
            indent: 0,
        },
        sops,
        comments,
        end: first_meta.unwrap_or(src.len()),
    })
}

/// Rebuilds the metadata tree from flattened keys: `__map_K` opens a map key, `__list_N` a
/// list index.
fn unflatten(flat: Vec<(String, ScalarNode)>) -> MapNode {
    let mut root = MapNode {
        entries: Vec::new(),
        span: 0..0,
        flow: false,
        indent: 0,
    };
    for (key, value) in flat {
        let mut parts = key.split("__");
        let Some(first) = parts.next() else { continue };
        let rest: Vec<&str> = parts.collect();
        insert_map(&mut root, first, &rest, value);
    }
    root
}

fn insert_map(map: &mut MapNode, key: &str, rest: &[&str], value: ScalarNode) {
    let idx = match map.entries.iter().position(|e| e.key == key) {
        Some(i) => i,
        None => {
            map.entries.push(Entry {
                key: key.to_owned(),
                key_span: 0..0,
                value: empty_for(rest.first()),
            });
            map.entries.len() - 1
        }
    };
    if let Some(entry) = map.entries.get_mut(idx) {
        insert_node(&mut entry.value, rest, value);
    }
}

fn empty_for(next: Option<&&str>) -> Node {
    match next {
        Some(s) if s.starts_with("list_") => Node::List(ListNode {
            items: Vec::new(),
            span: 0..0,
            flow: false,
            indent: 0,
        }),
        Some(_) => Node::Map(MapNode {
            entries: Vec::new(),
            span: 0..0,
            flow: false,
            indent: 0,
        }),
        None => Node::Map(MapNode {
            entries: Vec::new(),
            span: 0..0,
            flow: false,
            indent: 0,
        }),
    }
}

fn insert_node(node: &mut Node, path: &[&str], value: ScalarNode) {
    let Some((head, rest)) = path.split_first() else {
        *node = Node::Scalar(value);
        return;
    };
    if let Some(k) = head.strip_prefix("map_") {
        if !matches!(node, Node::Map(_)) {
            *node = empty_for(Some(head));
        }
        if let Node::Map(m) = node {
            insert_map(m, k, rest, value);
        }
    } else if let Some(i) = head
        .strip_prefix("list_")
        .and_then(|i| i.parse::<usize>().ok())
    {
        if !matches!(node, Node::List(_)) {
            *node = empty_for(Some(head));
        }
        if let Node::List(l) = node {
            while l.items.len() <= i.min(1024) {
                l.items.push(Item {
                    start: 0,
                    node: empty_for(rest.first()),
                });
            }
            if let Some(item) = l.items.get_mut(i) {
                insert_node(&mut item.node, rest, value);
            }
        }
    }
}
