//! Reading files under a config root: display paths, size limits, and
//! `include` globs that never leave the root.
//!
//! The root is the directory the user named (or the directory of the file
//! they named). nginx resolves relative includes against its prefix, which
//! for a copied config tree is that directory; absolute includes such as
//! `/etc/nginx/conf.d/*.conf` are re-rooted onto the tree when a suffix of
//! them exists below it, and are otherwise reported, never followed.

use std::io::Read;
use std::path::{Component, Path, PathBuf};

/// Files bigger than this are not configs; refusing them bounds memory.
pub(crate) const MAX_FILE_BYTES: u64 = 8 * 1024 * 1024;

/// Why a file could not be read.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ReadError {
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("larger than {} MiB; not a config file", MAX_FILE_BYTES / 1024 / 1024)]
    TooBig,
    #[error("not UTF-8 text")]
    NotText,
}

/// Reads a text file, refusing huge or binary ones.
pub(crate) fn read_text(path: &Path) -> Result<String, ReadError> {
    let file = std::fs::File::open(path)?;
    let mut bytes = Vec::new();
    file.take(MAX_FILE_BYTES + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(ReadError::TooBig);
    }
    String::from_utf8(bytes).map_err(|_| ReadError::NotText)
}

/// How a path is shown: relative to the working directory when it lies
/// below it (so `patch -p1` run there finds it), else as given.
pub(crate) fn display(path: &Path) -> String {
    let cleaned: PathBuf = path
        .components()
        .filter(|c| !matches!(c, Component::CurDir))
        .collect();
    if cleaned.is_absolute() {
        if let Ok(cwd) = std::env::current_dir() {
            if let Ok(rel) = cleaned.strip_prefix(&cwd) {
                return rel.display().to_string();
            }
        }
    }
    cleaned.display().to_string()
}

/// A config root: includes resolve against it and never escape it.
#[derive(Debug, Clone)]
pub(crate) struct Root {
    /// As the user gave it (for display paths).
    dir: PathBuf,
    /// Canonical, for containment checks.
    canonical: PathBuf,
}

/// What an include pattern resolved to.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Resolved {
    /// Files below the root, sorted (glob(3) order, as nginx uses).
    Files(Vec<PathBuf>),
    /// The pattern points outside the root and no suffix of it exists below.
    Outside,
}

impl Root {
    pub(crate) fn new(dir: &Path) -> std::io::Result<Root> {
        Ok(Root {
            dir: dir.to_path_buf(),
            canonical: dir.canonicalize()?,
        })
    }

    /// True when `path` (after resolving symlinks) lies below the root.
    pub(crate) fn contains(&self, path: &Path) -> bool {
        path.canonicalize()
            .is_ok_and(|p| p.starts_with(&self.canonical))
    }

    /// Resolves an include pattern (`conf.d/*.conf`, `/etc/nginx/x.conf`).
    pub(crate) fn resolve(&self, pattern: &str) -> Resolved {
        let path = Path::new(pattern);
        if !path.is_absolute() {
            return Resolved::Files(self.glob(path));
        }
        // An absolute path inside the root (the user linted /etc/nginx).
        if let Ok(rel) = path.strip_prefix(&self.canonical) {
            return Resolved::Files(self.glob(rel));
        }
        // Re-root: /etc/nginx/conf.d/*.conf → etc/nginx/conf.d/*.conf,
        // nginx/conf.d/*.conf, conf.d/*.conf — the first suffix that matches.
        let parts: Vec<Component> = path
            .components()
            .filter(|c| matches!(c, Component::Normal(_)))
            .collect();
        for start in 0..parts.len() {
            let suffix: PathBuf = parts[start..].iter().collect();
            let files = self.glob(&suffix);
            if !files.is_empty() {
                return Resolved::Files(files);
            }
        }
        Resolved::Outside
    }

    /// Expands a relative pattern component by component below the root.
    fn glob(&self, pattern: &Path) -> Vec<PathBuf> {
        let mut current = vec![self.dir.clone()];
        for component in pattern.components() {
            let part = match component {
                Component::Normal(p) => p.to_string_lossy().into_owned(),
                Component::ParentDir => "..".to_owned(),
                _ => continue,
            };
            let mut next = Vec::new();
            for dir in &current {
                if is_wild(&part) {
                    let Ok(entries) = std::fs::read_dir(dir) else {
                        continue;
                    };
                    let mut names: Vec<String> = entries
                        .filter_map(Result::ok)
                        .map(|e| e.file_name().to_string_lossy().into_owned())
                        .filter(|name| wildcard(&part, name))
                        .collect();
                    names.sort();
                    next.extend(names.into_iter().map(|n| dir.join(n)));
                } else {
                    next.push(dir.join(&part));
                }
            }
            current = next;
            // A pattern like */*/*/… over a big tree: stop early.
            if current.len() > 10_000 {
                break;
            }
        }
        current
            .into_iter()
            .filter(|p| p.is_file() && self.contains(p))
            .collect()
    }
}

fn is_wild(part: &str) -> bool {
    part.contains(['*', '?', '['])
}

/// glob(3) matching of one path component: `*`, `?`, `[abc]`, `[a-z]`,
/// `[!x]`; a leading `.` must be matched literally (hidden files stay hidden).
pub(crate) fn wildcard(pattern: &str, name: &str) -> bool {
    if name.starts_with('.') && !pattern.starts_with('.') {
        return false;
    }
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    // Iterative matching with one backtrack point for `*`: linear in
    // practice and never recursive, so no input can blow the stack.
    let (mut pi, mut ni) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while ni < n.len() {
        if pi < p.len() {
            match p[pi] {
                '*' => {
                    star = Some((pi, ni));
                    pi += 1;
                    continue;
                }
                '?' => {
                    pi += 1;
                    ni += 1;
                    continue;
                }
                '[' => {
                    if let Some((matched, width)) = class(&p[pi..], n[ni]) {
                        if matched {
                            pi += width;
                            ni += 1;
                            continue;
                        }
                    } else if n[ni] == '[' {
                        pi += 1;
                        ni += 1;
                        continue;
                    }
                }
                c if c == n[ni] => {
                    pi += 1;
                    ni += 1;
                    continue;
                }
                _ => {}
            }
        }
        match star {
            Some((sp, sn)) => {
                pi = sp + 1;
                ni = sn + 1;
                star = Some((sp, sn + 1));
            }
            None => return false,
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

/// Matches `c` against a `[…]` class at the start of `p`: (matched, width of
/// the class), or `None` when the `[` is not closed (then it is literal).
fn class(p: &[char], c: char) -> Option<(bool, usize)> {
    let mut i = 1;
    let negate = matches!(p.get(1), Some('!' | '^'));
    if negate {
        i += 1;
    }
    let mut matched = false;
    let mut first = true;
    while let Some(&ch) = p.get(i) {
        if ch == ']' && !first {
            return Some((matched != negate, i + 1));
        }
        first = false;
        if p.get(i + 1) == Some(&'-') && p.get(i + 2).is_some_and(|&e| e != ']') {
            let end = p[i + 2];
            if ch <= c && c <= end {
                matched = true;
            }
            i += 3;
        } else {
            if ch == c {
                matched = true;
            }
            i += 1;
        }
    }
    None
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn wildcard_table() {
        let table = [
            ("*.conf", "app.conf", true),
            ("*.conf", "app.conf.bak", false),
            ("*.conf", ".hidden.conf", false),
            (".*", ".hidden", true),
            ("a?c", "abc", true),
            ("a?c", "ac", false),
            ("[ab]*", "bz", true),
            ("[!ab]*", "bz", false),
            ("[a-c]x", "bx", true),
            ("[a-c]x", "dx", false),
            ("[x", "[x", true),
            ("*", "", true),
            ("**a*b*c", "xxaxxbxxc", true),
            ("*a*a*a*a*b", &"a".repeat(200), false),
            ("default", "default", true),
        ];
        for (pattern, name, expected) in table {
            assert_eq!(wildcard(pattern, name), expected, "{pattern} vs {name}");
        }
    }

    #[test]
    fn includes_stay_inside_the_root() {
        let tmp = tempfile::tempdir().unwrap();
        let root_dir = tmp.path().join("nginx");
        std::fs::create_dir_all(root_dir.join("conf.d")).unwrap();
        std::fs::write(root_dir.join("conf.d/b.conf"), "").unwrap();
        std::fs::write(root_dir.join("conf.d/a.conf"), "").unwrap();
        std::fs::write(root_dir.join("conf.d/.x.conf"), "").unwrap();
        std::fs::write(tmp.path().join("secret.conf"), "").unwrap();
        let root = Root::new(&root_dir).unwrap();

        let names = |r: Resolved| match r {
            Resolved::Files(f) => f
                .iter()
                .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
                .collect::<Vec<_>>(),
            Resolved::Outside => vec!["<outside>".to_owned()],
        };
        assert_eq!(names(root.resolve("conf.d/*.conf")), ["a.conf", "b.conf"]);
        assert_eq!(
            names(root.resolve("/etc/nginx/conf.d/*.conf")),
            ["a.conf", "b.conf"]
        );
        assert!(names(root.resolve("../secret.conf")).is_empty());
        assert!(names(root.resolve("conf.d/../../secret.conf")).is_empty());
        assert_eq!(names(root.resolve("/etc/secret.conf")), ["<outside>"]);
        assert!(names(root.resolve("missing/*.conf")).is_empty());
    }

    #[cfg(unix)]
    #[test]
    fn symlinks_out_of_the_root_are_not_followed() {
        let tmp = tempfile::tempdir().unwrap();
        let root_dir = tmp.path().join("nginx");
        std::fs::create_dir_all(&root_dir).unwrap();
        std::fs::write(tmp.path().join("secret.conf"), "").unwrap();
        std::os::unix::fs::symlink(tmp.path().join("secret.conf"), root_dir.join("s.conf"))
            .unwrap();
        let root = Root::new(&root_dir).unwrap();
        assert_eq!(root.resolve("*.conf"), Resolved::Files(vec![]));
    }
}
