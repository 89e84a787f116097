//! The tree path syntax of `sops set` / `sops unset`: `["a"]["b"][0]`.

use std::fmt;

use super::error::SopsError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    Key(String),
    Index(usize),
}

/// A path into a document, e.g. `["database"]["password"]` or `["hosts"][0]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TreePath(pub Vec<Segment>);

impl TreePath {
    pub fn keys(keys: &[&str]) -> Self {
        Self(keys.iter().map(|k| Segment::Key((*k).to_owned())).collect())
    }

    /// Parses `["a"]["b"][0]`; keys may use double or single quotes.
    pub fn parse(text: &str) -> Result<Self, SopsError> {
        let bad = |why: &str| {
            SopsError::InvalidPath(format!(
                "{text:?}: {why} (expected a form like '[\"a\"][\"b\"][0]')"
            ))
        };
        let mut segments = Vec::new();
        let mut rest = text.trim();
        while !rest.is_empty() {
            rest = rest
                .strip_prefix('[')
                .ok_or_else(|| bad("each step must start with `[`"))?;
            let quote = rest.chars().next().ok_or_else(|| bad("unexpected end"))?;
            if quote == '"' || quote == '\'' {
                let mut key = String::new();
                let mut chars = rest.char_indices().skip(1);
                let mut end = None;
                while let Some((i, c)) = chars.next() {
                    match c {
                        '\\' => match chars.next() {
                            Some((_, e)) => key.push(e),
                            None => return Err(bad("unterminated escape")),
                        },
                        c if c == quote => {
                            end = Some(i);
                            break;
                        }
                        c => key.push(c),
                    }
                }
                let end = end.ok_or_else(|| bad("unterminated key"))?;
                rest = rest.get(end + 1..).unwrap_or("");
                segments.push(Segment::Key(key));
            } else {
                let close = rest.find(']').ok_or_else(|| bad("missing `]`"))?;
                let index = rest
                    .get(..close)
                    .unwrap_or("")
                    .trim()
                    .parse::<usize>()
                    .map_err(|_| bad("an index must be a non-negative integer"))?;
                rest = rest.get(close..).unwrap_or("");
                segments.push(Segment::Index(index));
            }
            rest = rest.strip_prefix(']').ok_or_else(|| bad("missing `]`"))?;
        }
        if segments.is_empty() {
            return Err(bad("the path is empty"));
        }
        Ok(Self(segments))
    }
}

impl fmt::Display for TreePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for s in &self.0 {
            match s {
                Segment::Key(k) => write!(f, "[{k:?}]")?,
                Segment::Index(i) => write!(f, "[{i}]")?,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_sops_syntax() {
        let p = TreePath::parse(r#"["a"]['b c'][0]["q\"x"]"#).unwrap();
        assert_eq!(
            p.0,
            vec![
                Segment::Key("a".into()),
                Segment::Key("b c".into()),
                Segment::Index(0),
                Segment::Key("q\"x".into())
            ]
        );
        assert_eq!(p.to_string(), r#"["a"]["b c"][0]["q\"x"]"#);
        for bad in ["", "a", "[\"a\"", "[-1]", "[\"a\"]x", "[x]"] {
            assert!(TreePath::parse(bad).is_err(), "{bad}");
        }
    }
}
