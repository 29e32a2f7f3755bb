//! `include` expansion: each `include PATTERN;` is replaced, in place, by
//! the directives of the files it matches, as nginx does while reading.
//! Patterns resolve against the config root and never leave it
//! ([`Root::resolve`]).
//!
//! It works on the include graph as a whole, in three steps:
//! 1. every file reachable by includes is read and parsed once, and each
//!    `include` is resolved once to the files it names (the graph's edges);
//! 2. the graph's strongly connected components are the include cycles:
//!    each one is reported once, naming its files;
//! 3. files are expanded sinks first, each once, and an expansion is reused
//!    wherever the file is included again. Inside a cycle (which nginx
//!    would follow forever) each of its files is placed once, at its first
//!    include, and later includes of it are not followed.
//!
//! Before this, each include was expanded afresh along every path through
//! the graph: N files that each `include *.conf;` took N! expansions (8
//! files ran for minutes).

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use petgraph::graph::{DiGraph, NodeIndex};
use wsdoctor_evidence::config::{ConfigKind, ProblemKind, Span};

use super::parser::{self, Directive};
use crate::loader::Loader;
use crate::source::{Resolved, Root};

/// Directives an expanded tree may hold in one run. A snippet included in
/// every location multiplies, and a chain of files that each include the
/// next twice doubles per file; a config that grows past this by inclusion
/// is not a real one, and expanding it further would only spend memory.
const MAX_EXPANDED: usize = 200_000;

/// Files of one cycle nested inside each other at most (the recursion of
/// step 3 is bounded by this). Files that include each other by a glob
/// nest as deep as there are files, so this leaves room for a directory of
/// them.
const MAX_DEPTH: usize = 64;

/// Files named in a cycle report before "and N more".
const MAX_NAMED: usize = 8;

/// Expands includes in `tree`, the parsed text of `file` (recursively,
/// inside blocks too).
pub(crate) fn expand(
    tree: Vec<Directive>,
    file: &Path,
    loader: &mut Loader,
    root: &Root,
) -> Vec<Directive> {
    let mut graph = Graph::default();
    graph.add(file.to_path_buf(), tree);
    graph.read_all(loader, root);
    let cycles = graph.cycles(loader);
    graph.expand_all(&cycles, loader)
}

/// One file of the include graph.
struct File {
    /// As resolved from the include pattern (for display).
    path: PathBuf,
    /// Parsed, not expanded.
    tree: Vec<Directive>,
    /// For each `include` directive of `tree`, in the order a depth-first
    /// walk meets them, the files it names.
    includes: Vec<Vec<NodeIndex>>,
}

#[derive(Default)]
struct Graph {
    files: Vec<File>,
    edges: DiGraph<(), ()>,
    /// Canonical path → node; `None` for a file that could not be read.
    by_path: HashMap<PathBuf, Option<NodeIndex>>,
}

impl Graph {
    fn add(&mut self, path: PathBuf, tree: Vec<Directive>) -> NodeIndex {
        let node = self.edges.add_node(());
        self.by_path.insert(canonical(&path), Some(node));
        self.files.push(File {
            path,
            tree,
            includes: Vec::new(),
        });
        node
    }

    /// Step 1: reads every file reachable from the first one, once.
    fn read_all(&mut self, loader: &mut Loader, root: &Root) {
        let mut next = 0;
        while next < self.files.len() {
            let tree = std::mem::take(&mut self.files[next].tree);
            let mut includes = Vec::new();
            self.resolve_in(&tree, NodeIndex::new(next), loader, root, &mut includes);
            self.files[next].tree = tree;
            self.files[next].includes = includes;
            next += 1;
        }
    }

    fn resolve_in(
        &mut self,
        tree: &[Directive],
        from: NodeIndex,
        loader: &mut Loader,
        root: &Root,
        includes: &mut Vec<Vec<NodeIndex>>,
    ) {
        for d in tree {
            if d.name == "include" && d.block.is_none() {
                let targets = self.resolve(d, loader, root);
                for &to in &targets {
                    self.edges.update_edge(from, to, ());
                }
                includes.push(targets);
            } else if let Some(block) = &d.block {
                self.resolve_in(block, from, loader, root, includes);
            }
        }
    }

    /// The files one `include` names, read and parsed the first time.
    fn resolve(&mut self, d: &Directive, loader: &mut Loader, root: &Root) -> Vec<NodeIndex> {
        let Some(arg) = d.args.first() else {
            return Vec::new();
        };
        if arg.templated {
            // Already reported as templated; the file name is unknown.
            return Vec::new();
        }
        let paths = match root.resolve(&arg.text) {
            Resolved::Outside => {
                loader.problem(
                    ProblemKind::IncludeOutsideRoot,
                    format!(
                        "`{}` is outside the config root; not followed (lint the directory that holds it)",
                        arg.text
                    ),
                    arg.span.clone(),
                );
                return Vec::new();
            }
            Resolved::Files(paths) => paths,
        };
        if paths.is_empty() {
            let (kind, message) = if arg.text.contains(['*', '?', '[']) {
                (
                    ProblemKind::IncludeNoMatch,
                    format!("`{}` matches no file", arg.text),
                )
            } else {
                (
                    ProblemKind::IncludeUnreadable,
                    format!("`{}` does not exist below the config root", arg.text),
                )
            };
            loader.problem(kind, message, arg.span.clone());
            return Vec::new();
        }
        let mut targets = Vec::new();
        for path in paths {
            let key = canonical(&path);
            if let Some(known) = self.by_path.get(&key) {
                targets.extend(*known);
                continue;
            }
            match loader.read(&path, ConfigKind::Nginx, Some(d.span.clone())) {
                Ok(text) => {
                    let (tree, problems) = parser::parse(&text.display, &text.text);
                    if text.first {
                        loader.problems(problems);
                    }
                    targets.push(self.add(path, tree));
                }
                Err(e) => {
                    loader.problem(
                        ProblemKind::IncludeUnreadable,
                        format!("cannot read `{}`: {e}", path.display()),
                        arg.span.clone(),
                    );
                    self.by_path.insert(key, None);
                }
            }
        }
        targets
    }

    /// Step 2: reports each include cycle once and returns, per file, the
    /// id of its cycle (files of one cycle do not include each other).
    fn cycles(&self, loader: &mut Loader) -> Cycles {
        let components = petgraph::algo::tarjan_scc(&self.edges);
        let mut looped = vec![false; components.len()];
        let mut component_of = vec![0; self.files.len()];
        for (id, members) in components.iter().enumerate() {
            for node in members {
                component_of[node.index()] = id;
            }
        }
        for (id, members) in components.iter().enumerate() {
            let Some(&start) = members.iter().min() else {
                continue;
            };
            looped[id] = members.len() > 1 || self.edges.contains_edge(start, start);
            if !looped[id] {
                continue;
            }
            let shown = self.loop_through(start, &component_of);
            let span = self.closing_include(&shown);
            let mut named: Vec<PathBuf> = members
                .iter()
                .map(|n| self.files[n.index()].path.clone())
                .collect();
            named.sort();
            let shown: Vec<PathBuf> = shown
                .iter()
                .map(|n| self.files[n.index()].path.clone())
                .collect();
            if let Some(span) = span {
                loader.problem(ProblemKind::Syntax, cycle_message(&shown, &named), span);
            }
        }
        Cycles {
            components,
            component_of,
            looped,
        }
    }

    /// The shortest loop from `start` back to itself within its cycle
    /// (breadth-first), as `start, …, start`.
    fn loop_through(&self, start: NodeIndex, component_of: &[usize]) -> Vec<NodeIndex> {
        let component = component_of[start.index()];
        let mut parent: HashMap<NodeIndex, NodeIndex> = HashMap::new();
        let mut queue = std::collections::VecDeque::from([start]);
        while let Some(node) = queue.pop_front() {
            for next in self.edges.neighbors(node) {
                if component_of[next.index()] != component {
                    continue;
                }
                if next == start {
                    // Built end first: start, node, its parents…, start.
                    let mut path = vec![start, node];
                    let mut at = node;
                    while let Some(&p) = parent.get(&at) {
                        path.push(p);
                        at = p;
                    }
                    path.reverse();
                    return path;
                }
                if next != start && !parent.contains_key(&next) {
                    parent.insert(next, node);
                    queue.push_back(next);
                }
            }
        }
        vec![start, start]
    }

    /// The `include` argument, in the last file of the loop, that names
    /// the loop's first file.
    fn closing_include(&self, shown: &[NodeIndex]) -> Option<Span> {
        let (&first, rest) = shown.split_first()?;
        let &last = rest.iter().rev().nth(1).unwrap_or(&first);
        let file = &self.files[last.index()];
        let position = file.includes.iter().position(|t| t.contains(&first))?;
        include_args(&file.tree).into_iter().nth(position).map(|d| {
            d.args
                .first()
                .map_or_else(|| d.span.clone(), |a| a.span.clone())
        })
    }

    /// Step 3: expands every file once, sinks first, and returns the first
    /// file's expansion.
    fn expand_all(&self, cycles: &Cycles, loader: &mut Loader) -> Vec<Directive> {
        let mut expansion = Expansion {
            graph: self,
            cycles,
            done: (0..self.files.len()).map(|_| None).collect(),
            budget: Budget::default(),
            depth_reported: None,
        };
        // Files entered from outside their cycle (and the first file).
        let mut entry = vec![false; self.files.len()];
        entry[0] = true;
        for edge in self.edges.raw_edges() {
            let (from, to) = (edge.source().index(), edge.target().index());
            if cycles.component_of[from] != cycles.component_of[to] {
                entry[to] = true;
            }
        }
        for members in &cycles.components {
            for &node in members {
                let i = node.index();
                if cycles.looped[cycles.component_of[i]] && !entry[i] {
                    continue;
                }
                let mut placed = HashSet::from([node]);
                let tree = expansion.expand_file(node, &mut placed, 0);
                let count = count(&tree);
                expansion.done[i] = Some(Expanded { tree, count });
            }
        }
        if let Some(at) = expansion.budget.exceeded_at.take() {
            loader.problem(
                ProblemKind::Syntax,
                format!(
                    "includes expand to more than {MAX_EXPANDED} directives; the includes past that are not read"
                ),
                at,
            );
        }
        if let Some(at) = expansion.depth_reported.take() {
            loader.problem(
                ProblemKind::Syntax,
                format!(
                    "includes inside an include cycle nest deeper than {MAX_DEPTH} files; the deeper ones are not read"
                ),
                at,
            );
        }
        expansion
            .done
            .into_iter()
            .next()
            .flatten()
            .map(|e| e.tree)
            .unwrap_or_default()
    }
}

/// The include graph's strongly connected components.
struct Cycles {
    /// Sinks first (files that include nothing come before their includers).
    components: Vec<Vec<NodeIndex>>,
    /// Per file, the index of its component.
    component_of: Vec<usize>,
    /// Per component, true when its files include each other (or one
    /// includes itself).
    looped: Vec<bool>,
}

/// Step 3's state.
struct Expansion<'a> {
    graph: &'a Graph,
    cycles: &'a Cycles,
    /// Files expanded so far (sinks first, so an include outside the
    /// includer's cycle always finds its file here).
    done: Vec<Option<Expanded>>,
    budget: Budget,
    /// Where includes inside a cycle first nested too deep.
    depth_reported: Option<Span>,
}

impl Expansion<'_> {
    /// `node`'s directives with its includes in place. Inside a cycle, each
    /// file of the cycle is placed once per entry into it (`placed`), at
    /// its first include, so what the cycle's files say is read once.
    fn expand_file(
        &mut self,
        node: NodeIndex,
        placed: &mut HashSet<NodeIndex>,
        depth: usize,
    ) -> Vec<Directive> {
        let file = &self.graph.files[node.index()];
        let mut includes = file.includes.iter();
        self.expand_in(&file.tree, node, &mut includes, placed, depth)
    }

    fn expand_in(
        &mut self,
        tree: &[Directive],
        node: NodeIndex,
        includes: &mut std::slice::Iter<'_, Vec<NodeIndex>>,
        placed: &mut HashSet<NodeIndex>,
        depth: usize,
    ) -> Vec<Directive> {
        let mut out = Vec::with_capacity(tree.len());
        for d in tree {
            if d.name == "include" && d.block.is_none() {
                let at = d
                    .args
                    .first()
                    .map_or_else(|| d.span.clone(), |a| a.span.clone());
                for &to in includes.next().map(Vec::as_slice).unwrap_or_default() {
                    let same_cycle = self.cycles.component_of[to.index()]
                        == self.cycles.component_of[node.index()];
                    if !same_cycle {
                        if let Some(Some(expanded)) = self.done.get(to.index()) {
                            if self.budget.admit(expanded.count, &at) {
                                out.extend(expanded.tree.iter().cloned());
                            }
                        }
                        continue;
                    }
                    if !placed.insert(to) {
                        continue; // already placed (or being placed) in this entry
                    }
                    if depth >= MAX_DEPTH {
                        self.depth_reported.get_or_insert(at.clone());
                        continue;
                    }
                    let tree = self.expand_file(to, placed, depth + 1);
                    if self.budget.admit(count(&tree), &at) {
                        out.extend(tree);
                    }
                }
                continue;
            }
            let mut copy = Directive {
                name: d.name.clone(),
                span: d.span.clone(),
                args: d.args.clone(),
                block: None,
            };
            if let Some(block) = &d.block {
                copy.block = Some(self.expand_in(block, node, includes, placed, depth));
            }
            out.push(copy);
        }
        out
    }
}

/// A file's directives with its includes in place.
struct Expanded {
    tree: Vec<Directive>,
    /// Directives in `tree`, blocks included.
    count: usize,
}

#[derive(Default)]
struct Budget {
    placed: usize,
    /// The first include that did not fit.
    exceeded_at: Option<Span>,
}

impl Budget {
    /// True when `count` more directives fit in [`MAX_EXPANDED`].
    fn admit(&mut self, count: usize, at: &Span) -> bool {
        if self.placed + count > MAX_EXPANDED {
            self.exceeded_at.get_or_insert_with(|| at.clone());
            return false;
        }
        self.placed += count;
        true
    }
}

/// The `include` directives of a tree, in depth-first order (the order
/// [`Graph::resolve_in`] records their targets in).
fn include_args(tree: &[Directive]) -> Vec<&Directive> {
    let mut out = Vec::new();
    for d in tree {
        if d.name == "include" && d.block.is_none() {
            out.push(d);
        } else if let Some(block) = &d.block {
            out.extend(include_args(block));
        }
    }
    out
}

/// "include cycle: a.conf → b.conf → a.conf (3 files loop into each
/// other: …); …".
fn cycle_message(shown: &[PathBuf], members: &[PathBuf]) -> String {
    let path = shown
        .iter()
        .map(|p| name(p))
        .collect::<Vec<_>>()
        .join(" → ");
    let mut message = format!("include cycle: {path}");
    let distinct_shown = shown.len().saturating_sub(1);
    if members.len() > distinct_shown {
        let named: Vec<String> = members.iter().take(MAX_NAMED).map(|p| name(p)).collect();
        let more = members.len().saturating_sub(MAX_NAMED);
        let more = if more > 0 {
            format!(" and {more} more")
        } else {
            String::new()
        };
        message.push_str(&format!(
            " ({} files include each other: {}{more})",
            members.len(),
            named.join(", "),
        ));
    }
    // nginx has no include depth limit: `nginx -t` on a two-file loop
    // recursed until it crashed (nginx 1.22.1, SIGSEGV).
    message.push_str(
        "; nginx follows includes without a limit and crashes on a loop, so each file is read once here and the includes that loop back are not followed",
    );
    message
}

fn name(path: &Path) -> String {
    crate::source::display(path)
}

fn canonical(path: &Path) -> PathBuf {
    path.canonicalize().unwrap_or_else(|_| path.to_path_buf())
}

/// Directives in a tree, blocks included.
fn count(tree: &[Directive]) -> usize {
    tree.iter()
        .map(|d| 1 + d.block.as_deref().map_or(0, count))
        .sum()
}
