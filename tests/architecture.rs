//! No crate of the workspace has an import circle between its modules.
//!
//! Each crate's module tree is read from its root (`src/lib.rs` or
//! `src/main.rs`) by following `mod` items as rustc does (`#[path]`
//! included), skipping `#[cfg(test)]` items and modules. Every path that
//! starts with `crate::`, `super::` or `self::` — in a `use` or in code — is
//! an edge from the module it is written in to the longest module its prefix
//! names. An edge is then lifted to the two siblings under the modules'
//! common parent (`a::x::y` using `b::z` is `a` using `b`), so a module and
//! its own children never count against each other, and a circle means two
//! parts of one parent that each need the other.
//!
//! What it cannot see: paths inside macro invocations other than `use`s
//! and plain code, and uses through a re-export at the crate root (the
//! root is everyone's parent, so those edges are dropped).
//!
//! Parsing is syn's and the cycle search petgraph's (Tarjan's strongly
//! connected components); only the walk over the module tree is ours,
//! because no crate resolves `mod` items to files without compiling.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};

use petgraph::algo::tarjan_scc;
use petgraph::graph::{DiGraph, NodeIndex};
use syn::visit::{self, Visit};

/// Circles tolerated for now, per crate: each entry is a set of sibling
/// modules (full paths from the crate root) that need each other. A circle
/// found must lie inside one entry of its crate; an entry no circle lies in
/// any more is stale and fails the test too, so the list only shrinks. It
/// is empty (issue 17): a new entry needs a reason and a plan to remove it.
const ALLOWED_CIRCLES: &[(&str, &[&str])] = &[];

/// One module: where it lives and which modules it names.
#[derive(Debug, Default)]
struct Module {
    file: PathBuf,
    /// The raw paths (segments) written in it, `crate`/`super`/`self` first.
    paths: Vec<Vec<String>>,
}

/// A crate's modules by full path (`[]` is the root).
type Tree = BTreeMap<Vec<String>, Module>;

fn is_cfg_test(attrs: &[syn::Attribute]) -> bool {
    attrs.iter().any(|a| {
        a.path().is_ident("cfg") && {
            let tokens = a.meta.require_list().map(|l| l.tokens.to_string());
            // `cfg(test)`, `cfg(all(test, …))`; `cfg(not(test))` is not test-only.
            tokens.is_ok_and(|t| {
                t.split(|c: char| !c.is_alphanumeric() && c != '_')
                    .any(|w| w == "test")
                    && !t.contains("not")
            })
        }
    })
}

fn path_attr(attrs: &[syn::Attribute]) -> Option<String> {
    attrs.iter().find_map(|a| match &a.meta {
        syn::Meta::NameValue(nv) if nv.path.is_ident("path") => match &nv.value {
            syn::Expr::Lit(syn::ExprLit {
                lit: syn::Lit::Str(s),
                ..
            }) => Some(s.value()),
            _ => None,
        },
        _ => None,
    })
}

/// Collects the paths written in one module's items, and the child modules
/// it declares (inline ones are read in place, file ones queued).
struct Collector<'a> {
    tree: &'a mut Tree,
    module: Vec<String>,
    /// Directory that `mod x;` in this module resolves against.
    dir: PathBuf,
    file: PathBuf,
    pending: Vec<(Vec<String>, PathBuf, PathBuf)>,
}

impl Collector<'_> {
    fn record(&mut self, path: Vec<String>) {
        if matches!(
            path.first().map(String::as_str),
            Some("crate" | "super" | "self")
        ) {
            self.tree
                .entry(self.module.clone())
                .or_default()
                .paths
                .push(path);
        }
    }

    fn use_tree(&mut self, prefix: &mut Vec<String>, tree: &syn::UseTree) {
        match tree {
            syn::UseTree::Path(p) => {
                prefix.push(p.ident.to_string());
                self.use_tree(prefix, &p.tree);
                prefix.pop();
            }
            syn::UseTree::Name(n) => {
                let mut full = prefix.clone();
                if n.ident != "self" {
                    full.push(n.ident.to_string());
                }
                self.record(full);
            }
            syn::UseTree::Rename(r) => {
                let mut full = prefix.clone();
                if r.ident != "self" {
                    full.push(r.ident.to_string());
                }
                self.record(full);
            }
            syn::UseTree::Glob(_) => self.record(prefix.clone()),
            syn::UseTree::Group(g) => {
                for t in &g.items {
                    self.use_tree(prefix, t);
                }
            }
        }
    }
}

impl<'ast> Visit<'ast> for Collector<'_> {
    fn visit_item(&mut self, item: &'ast syn::Item) {
        let attrs = match item {
            syn::Item::Const(i) => &i.attrs,
            syn::Item::Enum(i) => &i.attrs,
            syn::Item::Fn(i) => &i.attrs,
            syn::Item::Impl(i) => &i.attrs,
            syn::Item::Macro(i) => &i.attrs,
            syn::Item::Mod(i) => &i.attrs,
            syn::Item::Static(i) => &i.attrs,
            syn::Item::Struct(i) => &i.attrs,
            syn::Item::Trait(i) => &i.attrs,
            syn::Item::Type(i) => &i.attrs,
            syn::Item::Use(i) => &i.attrs,
            _ => return visit::visit_item(self, item),
        };
        if !is_cfg_test(attrs) {
            visit::visit_item(self, item);
        }
    }

    fn visit_item_use(&mut self, item: &'ast syn::ItemUse) {
        self.use_tree(&mut Vec::new(), &item.tree);
    }

    fn visit_path(&mut self, path: &'ast syn::Path) {
        self.record(path.segments.iter().map(|s| s.ident.to_string()).collect());
        visit::visit_path(self, path);
    }

    fn visit_item_mod(&mut self, item: &'ast syn::ItemMod) {
        let name = item.ident.to_string();
        let mut child = self.module.clone();
        child.push(name.clone());
        match &item.content {
            Some((_, items)) => {
                let mut inner = Collector {
                    tree: self.tree,
                    module: child.clone(),
                    dir: self.dir.join(&name),
                    file: self.file.clone(),
                    pending: Vec::new(),
                };
                inner.tree.entry(child).or_default().file = self.file.clone();
                for i in items {
                    inner.visit_item(i);
                }
                let pending = inner.pending;
                self.pending.extend(pending);
            }
            None => {
                let (file, dir) = match path_attr(&item.attrs) {
                    Some(p) => {
                        let base = self.file.parent().unwrap_or(Path::new("."));
                        let file = base.join(p);
                        let dir = file.with_extension("");
                        (file, dir)
                    }
                    None => {
                        let flat = self.dir.join(format!("{name}.rs"));
                        if flat.exists() {
                            (flat, self.dir.join(&name))
                        } else {
                            (self.dir.join(&name).join("mod.rs"), self.dir.join(&name))
                        }
                    }
                };
                self.pending.push((child, file, dir));
            }
        }
    }
}

/// Reads a crate's module tree from its root file.
fn read_tree(root: &Path) -> Tree {
    let mut tree = Tree::new();
    let dir = root
        .parent()
        .expect("a root file has a directory")
        .to_path_buf();
    let mut queue = vec![(Vec::new(), root.to_path_buf(), dir)];
    while let Some((module, file, dir)) = queue.pop() {
        let text =
            fs::read_to_string(&file).unwrap_or_else(|e| panic!("reading {}: {e}", file.display()));
        let parsed =
            syn::parse_file(&text).unwrap_or_else(|e| panic!("parsing {}: {e}", file.display()));
        tree.entry(module.clone()).or_default().file = file.clone();
        let mut collector = Collector {
            tree: &mut tree,
            module,
            dir,
            file,
            pending: Vec::new(),
        };
        for item in &parsed.items {
            collector.visit_item(item);
        }
        queue.extend(collector.pending);
    }
    tree
}

/// The module a written path names: `crate`/`super`/`self` resolved from
/// `from`, then as many further segments as are modules.
fn target(tree: &Tree, from: &[String], path: &[String]) -> Option<Vec<String>> {
    let mut at: Vec<String> = from.to_vec();
    let mut rest = path;
    match rest.first().map(String::as_str) {
        Some("crate") => {
            at.clear();
            rest = &rest[1..];
        }
        Some("self") => rest = &rest[1..],
        Some("super") => {}
        _ => return None,
    }
    while rest.first().map(String::as_str) == Some("super") {
        at.pop()?;
        rest = &rest[1..];
    }
    for seg in rest {
        let mut next = at.clone();
        next.push(seg.clone());
        if !tree.contains_key(&next) {
            break;
        }
        at = next;
    }
    Some(at)
}

/// A circle: sibling modules that each reach the others, with one written
/// use per edge as evidence.
#[derive(Debug)]
struct Circle {
    members: BTreeSet<String>,
    evidence: Vec<String>,
}

fn show(module: &[String]) -> String {
    if module.is_empty() {
        "crate".to_owned()
    } else {
        module.join("::")
    }
}

fn circles(tree: &Tree, root_dir: &Path) -> Vec<Circle> {
    // Edge between siblings → the first written use that makes it.
    let mut edges: BTreeMap<(Vec<String>, Vec<String>), String> = BTreeMap::new();
    for (from, module) in tree {
        for path in &module.paths {
            let Some(to) = target(tree, from, path) else {
                continue;
            };
            let common = from.iter().zip(&to).take_while(|(a, b)| a == b).count();
            if common == from.len() || common == to.len() {
                continue; // the same module, or a module and its ancestor
            }
            let key = (from[..=common].to_vec(), to[..=common].to_vec());
            let file = module.file.strip_prefix(root_dir).unwrap_or(&module.file);
            edges.entry(key).or_insert_with(|| {
                format!(
                    "{} uses {} ({}: `{}`)",
                    show(from),
                    show(&to),
                    file.display(),
                    path.join("::")
                )
            });
        }
    }
    let mut graph: DiGraph<Vec<String>, ()> = DiGraph::new();
    let mut index: BTreeMap<Vec<String>, NodeIndex> = BTreeMap::new();
    for (a, b) in edges.keys() {
        let ia = *index
            .entry(a.clone())
            .or_insert_with(|| graph.add_node(a.clone()));
        let ib = *index
            .entry(b.clone())
            .or_insert_with(|| graph.add_node(b.clone()));
        graph.add_edge(ia, ib, ());
    }
    tarjan_scc(&graph)
        .into_iter()
        .filter(|scc| scc.len() > 1)
        .map(|scc| {
            let members: BTreeSet<Vec<String>> = scc.iter().map(|i| graph[*i].clone()).collect();
            let evidence = edges
                .iter()
                .filter(|((a, b), _)| members.contains(a) && members.contains(b))
                .map(|(_, e)| e.clone())
                .collect();
            Circle {
                members: members.iter().map(|m| show(m)).collect(),
                evidence,
            }
        })
        .collect()
}

/// Every crate of the workspace: its name and root file.
fn crates(workspace: &Path) -> Vec<(String, PathBuf)> {
    let mut found = vec![("wsdoctor".to_owned(), workspace.join("src/main.rs"))];
    let mut dirs: Vec<PathBuf> = fs::read_dir(workspace.join("crates"))
        .expect("the workspace has crates/")
        .map(|e| e.expect("a readable crates/ entry").path())
        .collect();
    dirs.sort();
    for dir in dirs {
        for root in ["src/lib.rs", "src/main.rs"] {
            let file = dir.join(root);
            if file.exists() {
                let name = dir.file_name().expect("a crate directory has a name");
                found.push((name.to_string_lossy().into_owned(), file));
            }
        }
    }
    found
}

fn check(workspace: &Path, allowed: &[(&str, &[&str])]) -> Result<(), String> {
    let mut report = String::new();
    let mut used = vec![false; allowed.len()];
    for (name, root) in crates(workspace) {
        let tree = read_tree(&root);
        for circle in circles(&tree, workspace) {
            let allowed_at = allowed.iter().position(|(c, members)| {
                *c == name && circle.members.iter().all(|m| members.contains(&m.as_str()))
            });
            match allowed_at {
                Some(i) => used[i] = true,
                None => {
                    let members: Vec<&str> = circle.members.iter().map(String::as_str).collect();
                    let _ = writeln!(
                        report,
                        "crate {name}: import circle between {}:",
                        members.join(", ")
                    );
                    for e in &circle.evidence {
                        let _ = writeln!(report, "    {e}");
                    }
                }
            }
        }
    }
    for ((name, members), used) in allowed.iter().zip(used) {
        if !used {
            let _ = writeln!(
                report,
                "crate {name}: the allowed circle {members:?} is gone; remove it from ALLOWED_CIRCLES"
            );
        }
    }
    if report.is_empty() {
        Ok(())
    } else {
        Err(report)
    }
}

#[test]
fn no_crate_has_an_import_circle_between_its_modules() {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR"));
    if let Err(report) = check(workspace, ALLOWED_CIRCLES) {
        panic!("{report}");
    }
}

/// The check itself: a small crate on disk with one circle between two
/// sibling files, one between a parent and its child (which does not
/// count), and a use that only a test module makes (which does not count).
#[test]
fn the_check_finds_a_circle_between_siblings_and_only_that() {
    let dir = tempfile::tempdir().unwrap();
    let write = |path: &str, text: &str| {
        let file = dir.path().join(path);
        fs::create_dir_all(file.parent().unwrap()).unwrap();
        fs::write(file, text).unwrap();
    };
    write("src/main.rs", "mod a;\nmod b;\nmod c;\nfn main() {}\n");
    write("src/a.rs", "use crate::b::helper;\npub struct A;\n");
    write(
        "src/b.rs",
        "mod inner;\npub fn helper() {}\npub fn other() -> super::a::A { super::a::A }\n",
    );
    write("src/b/inner.rs", "use super::helper;\n");
    write(
        "src/c.rs",
        "pub struct C;\n#[cfg(test)]\nmod tests { use crate::a::A; }\n",
    );
    fs::create_dir_all(dir.path().join("crates")).unwrap();
    let tree = read_tree(&dir.path().join("src/main.rs"));
    let found = circles(&tree, dir.path());
    assert_eq!(found.len(), 1, "{found:?}");
    let members: Vec<&str> = found[0].members.iter().map(String::as_str).collect();
    assert_eq!(members, ["a", "b"]);
    assert!(found[0].evidence.iter().any(|e| e.contains("src/b.rs")));

    // `c` using `a` from code outside its test module joins no circle,
    // but `a` using `c` back makes one.
    write(
        "src/a.rs",
        "use crate::b::helper;\npub struct A;\nfn f() -> crate::c::C { crate::c::C }\n",
    );
    write("src/c.rs", "pub fn g() -> crate::a::A { crate::a::A }\n");
    let tree = read_tree(&dir.path().join("src/main.rs"));
    let members: Vec<String> = circles(&tree, dir.path())
        .into_iter()
        .flat_map(|c| c.members)
        .collect();
    assert_eq!(members, ["a", "b", "c"]);

    // An allowed circle that is no longer there is reported as stale.
    write("src/b.rs", "mod inner;\npub fn helper() {}\n");
    write("src/c.rs", "pub struct C;\n");
    let err = check(dir.path(), &[("wsdoctor", &["a", "b"])]).unwrap_err();
    assert!(err.contains("is gone"), "{err}");
}
