//! `wsdoctor completions SHELL` and `wsdoctor man`: each script is checked
//! by the shell it is for (`bash -n`, `zsh -n`, `fish -n`), and every man
//! page renders with `man -l` (man-db, groff) without a single warning.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::path::Path;
use std::process::{Command, Output};

use assert_cmd::cargo::CommandCargoExt;

fn wsdoctor(args: &[&str]) -> Output {
    Command::cargo_bin("wsdoctor")
        .unwrap()
        .args(args)
        .output()
        .unwrap()
}

/// The script for `shell`, written to a file in `dir`.
fn script(shell: &str, dir: &Path) -> std::path::PathBuf {
    let out = wsdoctor(&["completions", shell]);
    assert!(out.status.success(), "completions {shell}: {out:?}");
    let text = String::from_utf8(out.stdout).unwrap();
    // Every subcommand is offered, including the newest ones.
    for sub in ["probe", "lint", "serve", "completions", "man"] {
        assert!(text.contains(sub), "{shell} script lacks {sub}");
    }
    let path = dir.join(format!("wsdoctor.{shell}"));
    std::fs::write(&path, text).unwrap();
    path
}

/// `SHELL -n FILE` (parse without running), where the shell is installed.
fn syntax_check(shell: &str) {
    let Some(bin) = support::require(shell) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let file = script(shell, dir.path());
    let out = Command::new(bin).arg("-n").arg(&file).output().unwrap();
    assert!(
        out.status.success() && out.stderr.is_empty(),
        "{shell} -n rejects the script: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn bash_completion_parses() {
    syntax_check("bash");
}

#[test]
fn zsh_completion_parses() {
    syntax_check("zsh");
}

#[test]
fn fish_completion_parses() {
    syntax_check("fish");
}

#[test]
fn powershell_and_elvish_scripts_are_generated() {
    // No pwsh or elvish in Debian's main archive to check them with: the
    // scripts are generated and name the subcommands.
    let dir = tempfile::tempdir().unwrap();
    for shell in ["powershell", "elvish"] {
        script(shell, dir.path());
    }
}

#[test]
fn unknown_shell_is_a_usage_error() {
    let out = wsdoctor(&["completions", "tcsh"]);
    assert_eq!(out.status.code(), Some(2));
}

/// `man -l` with groff's warnings on: stderr must stay empty, and the page
/// must say what it documents.
fn renders_cleanly(man: &str, page: &Path, must_contain: &str) {
    let out = Command::new(man)
        .args(["--warnings", "-E", "UTF-8", "-l", "-Tutf8"])
        .arg(page)
        .env("MANWIDTH", "80")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stderr.trim().is_empty(),
        "{} does not render cleanly: {stderr}",
        page.display()
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(must_contain),
        "{} lacks {must_contain}",
        page.display()
    );
}

#[test]
fn man_page_renders_without_warnings() {
    let Some(man) = support::require("man") else {
        return;
    };
    let out = wsdoctor(&["man"]);
    assert!(out.status.success(), "{out:?}");
    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("wsdoctor.1");
    std::fs::write(&page, &out.stdout).unwrap();
    renders_cleanly(&man, &page, "wsdoctor-probe(1)");
}

#[test]
fn man_dir_writes_a_page_per_command_and_each_renders() {
    let Some(man) = support::require("man") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let pages = dir.path().join("man1");
    let out = wsdoctor(&["man", "--dir", pages.to_str().unwrap()]);
    assert!(out.status.success(), "{out:?}");
    let mut names: Vec<String> = std::fs::read_dir(&pages)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    for expected in ["wsdoctor.1", "wsdoctor-probe.1", "wsdoctor-lint.1"] {
        assert!(names.iter().any(|n| n == expected), "{names:?}");
    }
    renders_cleanly(&man, &pages.join("wsdoctor-lint.1"), "--format");
    for name in &names {
        renders_cleanly(&man, &pages.join(name), "wsdoctor");
    }
}
