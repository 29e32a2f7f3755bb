//! nginx includes as a graph: each file read and expanded once, include
//! cycles reported once naming their files, and expansion bounded. Files
//! are written by the tests into temporary directories.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use wsdoctor_evidence::config::{ConfigEvidence, ProblemKind};
use wsdoctor_lint::LintConfig;

fn lint_dir(dir: &Path) -> ConfigEvidence {
    wsdoctor_lint::load(&LintConfig {
        paths: vec![dir.to_path_buf()],
        ..LintConfig::default()
    })
    .expect("the directory loads")
}

fn write(dir: &Path, name: &str, text: &str) {
    std::fs::write(dir.join(name), text).unwrap();
}

/// N files in one directory that each `include *.conf;` (issue 19 item 4:
/// 8 files took minutes, each include being expanded along every path).
fn glob_fan_out(n: usize) {
    let dir = tempfile::tempdir().unwrap();
    for i in 0..n {
        write(
            dir.path(),
            &format!("f{i:02}.conf"),
            "include *.conf;\nlocation /ws { proxy_pass http://app; }\n",
        );
    }
    let ev = lint_dir(dir.path());
    // Every file read once: the evidence lists each file one time.
    assert_eq!(ev.files.len(), n);
    // One problem for the whole loop (not one per include that closes it),
    // naming the files.
    assert_eq!(ev.problems.len(), 1, "{:#?}", ev.problems);
    let problem = &ev.problems[0];
    assert_eq!(problem.kind, ProblemKind::Syntax);
    assert!(problem.kind.is_error());
    assert!(
        problem.message.starts_with("include cycle: "),
        "{}",
        problem.message
    );
    assert!(
        problem
            .message
            .contains(&format!("{n} files include each other")),
        "{}",
        problem.message
    );
    assert!(problem.message.contains("f00.conf"), "{}", problem.message);
    // Includes inside the loop are cut: each file's own location is
    // extracted once, not once per path through the loop.
    assert_eq!(ev.nginx.routes.len(), n, "{:#?}", ev.nginx.routes.len());
}

#[test]
fn eight_files_including_each_other_by_glob_are_read_once() {
    glob_fan_out(8);
}

#[test]
fn fifty_files_including_each_other_by_glob_are_read_once() {
    glob_fan_out(50);
}

#[test]
fn a_two_file_cycle_names_both_files_at_the_include_that_closes_it() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "nginx.conf",
        "events {}\nhttp { include a.conf; }\n",
    );
    write(dir.path(), "a.conf", "include b.conf;\n");
    write(
        dir.path(),
        "b.conf",
        "server { location /ws { proxy_pass http://app; } }\ninclude a.conf;\n",
    );
    let ev = lint_dir(dir.path());
    assert_eq!(ev.files.len(), 3);
    assert_eq!(ev.problems.len(), 1, "{:#?}", ev.problems);
    let problem = &ev.problems[0];
    assert!(
        problem.message.starts_with("include cycle: ")
            && problem.message.contains("a.conf → ")
            && problem.message.contains("b.conf → ")
            && problem.message.ends_with("are not followed"),
        "{}",
        problem.message
    );
    assert!(problem.span.file.ends_with("b.conf"), "{:?}", problem.span);
    assert_eq!(problem.span.line, 2);
    // What the loop's files say is still read, once.
    assert_eq!(ev.nginx.routes.len(), 1);
}

#[test]
fn a_snippet_included_twice_is_not_a_cycle_and_lands_in_both_places() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "nginx.conf",
        "events {}\nhttp { server {\n location /a { include ws.inc; }\n location /b { include ws.inc; }\n} }\n",
    );
    write(
        dir.path(),
        "ws.inc",
        "proxy_pass http://app;\nproxy_read_timeout 3600s;\n",
    );
    let ev = lint_dir(dir.path());
    assert!(ev.problems.is_empty(), "{:#?}", ev.problems);
    assert_eq!(ev.files.len(), 2);
    assert_eq!(ev.nginx.routes.len(), 2);
}

#[test]
fn a_chain_that_doubles_at_each_file_stops_at_the_expansion_budget() {
    // f00 includes f01 twice, f01 includes f02 twice, …: 2^40 copies of
    // the last file if expanded in full.
    let dir = tempfile::tempdir().unwrap();
    let n = 40;
    write(
        dir.path(),
        "nginx.conf",
        "events {}\nhttp { include f00.inc; }\n",
    );
    for i in 0..n {
        write(
            dir.path(),
            &format!("f{i:02}.inc"),
            &format!("include f{:02}.inc;\ninclude f{:02}.inc;\n", i + 1, i + 1),
        );
    }
    write(
        dir.path(),
        &format!("f{n:02}.inc"),
        "proxy_read_timeout 1s;\n",
    );
    let ev = lint_dir(dir.path());
    assert_eq!(ev.files.len(), n + 2);
    assert_eq!(ev.problems.len(), 1, "{:#?}", ev.problems);
    assert!(
        ev.problems[0]
            .message
            .contains("includes expand to more than"),
        "{}",
        ev.problems[0].message
    );
}
