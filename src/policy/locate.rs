//! Finds where a field of the config file is written, so that every problem can name its
//! line and column, using the same span-carrying YAML reader as the SOPS engine.

use std::fmt;

use crate::sops::format::{line_col, yaml};
use crate::sops::tree::{Document, Node};

/// A field in the config, as `credentials.data-api-tokens.locations[2].file`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldPath(pub Vec<FieldStep>);

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FieldStep {
    Key(String),
    Index(usize),
}

impl FieldPath {
    pub fn root() -> Self {
        Self(Vec::new())
    }

    pub fn key(&self, k: &str) -> Self {
        let mut p = self.clone();
        p.0.push(FieldStep::Key(k.to_owned()));
        p
    }

    pub fn index(&self, i: usize) -> Self {
        let mut p = self.clone();
        p.0.push(FieldStep::Index(i));
        p
    }

    /// Parses the dotted form `serde_path_to_error` prints.
    pub fn parse(text: &str) -> Self {
        let mut steps = Vec::new();
        for part in text.split('.').filter(|p| !p.is_empty()) {
            let (name, rest) = part.split_once('[').map_or((part, ""), |(n, r)| (n, r));
            if !name.is_empty() {
                steps.push(FieldStep::Key(name.to_owned()));
            }
            for idx in rest.split('[') {
                if let Ok(i) = idx.trim_end_matches(']').parse() {
                    steps.push(FieldStep::Index(i));
                }
            }
        }
        Self(steps)
    }
}

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, s) in self.0.iter().enumerate() {
            match s {
                FieldStep::Key(k) if i == 0 => write!(f, "{k}")?,
                FieldStep::Key(k) => write!(f, ".{k}")?,
                FieldStep::Index(n) => write!(f, "[{n}]")?,
            }
        }
        Ok(())
    }
}

/// The config text and its parsed tree, for looking positions up.
pub struct Locator<'a> {
    pub file: &'a str,
    text: &'a str,
    doc: Option<Document>,
}

impl<'a> Locator<'a> {
    pub fn new(file: &'a str, text: &'a str) -> Self {
        let doc = yaml::parse(text)
            .ok()
            .and_then(|docs| docs.into_iter().next());
        Self { file, text, doc }
    }

    /// Line and column (1-based) of the deepest part of `path` that exists: the value when
    /// the field is there, else the nearest enclosing entry.
    pub fn position(&self, path: &FieldPath) -> (usize, usize) {
        self.find(path).0
    }

    /// Line and column of `path`'s value, only if the whole path is there.
    pub fn exact(&self, path: &FieldPath) -> Option<(usize, usize)> {
        match self.find(path) {
            (at, true) => Some(at),
            (_, false) => None,
        }
    }

    /// The position of the deepest part of `path` that exists, and whether that is all of it.
    fn find(&self, path: &FieldPath) -> ((usize, usize), bool) {
        let Some(doc) = &self.doc else {
            return ((1, 1), false);
        };
        let mut offset = doc.root.span.start;
        let mut node: Option<&Node> = None;
        for step in &path.0 {
            let next = match (node, step) {
                (None, FieldStep::Key(k)) => doc.root.get(k).map(|e| (e.key_span.start, &e.value)),
                (Some(Node::Map(m)), FieldStep::Key(k)) => {
                    m.get(k).map(|e| (e.key_span.start, &e.value))
                }
                (Some(Node::List(l)), FieldStep::Index(i)) => {
                    l.items.get(*i).map(|it| (it.node.start(), &it.node))
                }
                _ => None,
            };
            match next {
                Some((at, n)) => {
                    offset = match n {
                        Node::Scalar(s) => s.span.start,
                        _ => at,
                    };
                    node = Some(n);
                }
                None => return (line_col(self.text, offset), false),
            }
        }
        (line_col(self.text, offset), true)
    }

    pub fn problem(&self, path: &FieldPath, message: impl Into<String>) -> super::Problem {
        let (line, column) = self.position(path);
        super::Problem {
            file: self.file.to_owned(),
            line,
            column,
            field: path.to_string(),
            message: message.into(),
        }
    }
}
